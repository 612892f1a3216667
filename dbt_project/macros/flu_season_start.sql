{#- The first day of the influenza season `as_of` falls in: 1 August, from when a
    dose of the new season's vaccine counts (CDC ACIP recommendations; the CMS147
    measure counts doses from 1 August). -#}
{% macro flu_season_start() -%}
    {%- set instant = clearlist.as_of_utc_datetime() -%}
    {%- set year = instant.year if instant.month >= 8 else instant.year - 1 -%}
    cast('{{ year }}-08-01' as date)
{%- endmacro %}
