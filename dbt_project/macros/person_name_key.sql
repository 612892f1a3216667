{#- R-AUTH-FALSE: a name as it is compared with another: Unicode NFC, lower case,
    every run of characters other than letters turned into one space and the ends
    trimmed ("O'Brien-Smith" reads "o brien smith"). Null or empty stays null. -#}
{% macro person_name_key(column) -%}
    {{ return(adapter.dispatch("person_name_key", "clearlist")(column)) }}
{%- endmacro %}

{#- Spark reads backslashes in literals as escapes and replaces every match. -#}
{% macro default__person_name_key(column) -%}
    nullif(trim(regexp_replace(
        lower({{ clearlist.unicode_nfc(column) }}), '[^\\p{L}]+', ' '
    )), '')
{%- endmacro %}

{% macro duckdb__person_name_key(column) -%}
    nullif(trim(regexp_replace(
        lower({{ clearlist.unicode_nfc(column) }}), '[^\p{L}]+', ' ', 'g'
    )), '')
{%- endmacro %}
