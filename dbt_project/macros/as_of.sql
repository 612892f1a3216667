{#- The instant the consent rules are evaluated at (RULES.md 1.3): the `as_of` var,
    an ISO 8601 instant, or the build's current time when it is empty. -#}
{% macro as_of() -%}
    {%- set value = var("as_of", "") -%}
    {%- if value -%}
        {{ return(adapter.dispatch("timestamp_literal", "clearlist")(value)) }}
    {%- else -%}
        {{ return(dbt.current_timestamp()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__timestamp_literal(value) -%}
    cast('{{ value }}' as timestamp)
{%- endmacro %}

{% macro duckdb__timestamp_literal(value) -%}
    cast('{{ value }}' as timestamptz)
{%- endmacro %}
