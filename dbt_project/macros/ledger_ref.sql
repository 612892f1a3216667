{#- A ledger relation as the eligibility logic reads it. A table macro stored in the
    warehouse names it without the database, so the macro still resolves when the
    warehouse file is copied or renamed. -#}
{% macro ledger_ref(name, portable=false) -%}
    {%- if portable -%}
        {{ ref(name).include(database=false) }}
    {%- else -%}
        {{ ref(name) }}
    {%- endif -%}
{%- endmacro %}
