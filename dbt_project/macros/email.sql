{#- R-EMAIL-NORM: suppressions match on the whole address, trimmed and lower-cased. -#}
{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
