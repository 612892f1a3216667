{#- R-EMAIL-NORM: text in Unicode normalization form C, so that an address typed
    with a decomposed accent (e + U+0301) and one with the precomposed letter are
    the same address. DuckDB has it built in. Spark SQL has no normalization
    function: there the text passes unchanged, and decomposed and precomposed forms
    of one address stay different (ingestion would have to normalize them). -#}
{% macro unicode_nfc(column) -%}
    {{ return(adapter.dispatch("unicode_nfc", "clearlist")(column)) }}
{%- endmacro %}

{% macro default__unicode_nfc(column) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__unicode_nfc(column) -%}
    nfc_normalize({{ column }})
{%- endmacro %}
