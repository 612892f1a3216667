{#- The `as_of` instant as a Python datetime in UTC, for macros that need its
    calendar parts; without an instant, the time the run started. -#}
{% macro as_of_utc_datetime() -%}
    {%- set value = var("as_of", "") -%}
    {%- if not value -%}
        {{ return(run_started_at) }}
    {%- endif -%}
    {%- set instant = modules.datetime.datetime.fromisoformat(
        value | replace("Z", "+00:00")
    ) -%}
    {%- if instant.tzinfo is none -%}
        {{ return(instant) }}
    {%- endif -%}
    {{ return(instant.astimezone(modules.pytz.utc)) }}
{%- endmacro %}

{#- The UTC calendar date of `as_of`, written as a literal so that no session time
    zone moves it. -#}
{% macro as_of_date() -%}
    cast('{{ clearlist.as_of_utc_datetime().strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}
