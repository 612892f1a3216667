{#- Phone numbers compare on their last ten digits (US numbers, with or without +1). -#}
{% macro phone_key(column) -%}
    {{ return(adapter.dispatch("phone_key", "clearlist")(column)) }}
{%- endmacro %}

{% macro default__phone_key(column) -%}
    nullif(right(regexp_replace({{ column }}, '[^0-9]', ''), 10), '')
{%- endmacro %}

{% macro duckdb__phone_key(column) -%}
    nullif(right(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 10), '')
{%- endmacro %}
