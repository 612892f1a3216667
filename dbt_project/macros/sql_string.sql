{#- A Jinja value as a SQL text literal (quotes doubled), or a typed null. -#}
{% macro sql_string(value) -%}
    {%- if value is none or value == "" -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
