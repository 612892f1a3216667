{#- Multi-valued fields travel as text joined by ';'. `normalize_list` upper-cases
    them and trims the spaces around separators into ';A;B;', so that membership is
    one portable `like`. -#}
{% macro normalize_list(column) -%}
    {%- set trimmed = "upper(replace(replace(trim(" ~ column ~ "), ' ;', ';'), '; ', ';'))" -%}
    case
        when {{ column }} is null or trim({{ column }}) = '' then ';'
        else {{ dbt.concat(["';'", trimmed, "';'"]) }}
    end
{%- endmacro %}

{% macro list_has(column, value) -%}
    ({{ column }} like '%;{{ value | upper }};%')
{%- endmacro %}

{#- Membership of a SQL text expression (a column or a macro parameter). -#}
{% macro list_has_value(column, value_sql) -%}
    ({{ column }} like {{ dbt.concat(["'%;'", "upper(" ~ value_sql ~ ")", "';%'"]) }})
{%- endmacro %}
