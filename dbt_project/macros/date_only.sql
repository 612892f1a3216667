{#- RULES.md 1.4: a date-only value D is read conservatively across time zones.
    A start (signature, grant) counts from the latest instant D ends anywhere,
    D+1 12:00Z; an end (expiry, revocation, opt-out) takes effect from the earliest
    instant D begins anywhere, D-1 10:00Z. Ingestion stores D as D 00:00Z. -#}
{% macro date_only_start(column, is_date_only) -%}
    case
        when {{ is_date_only }} then {{ dbt.dateadd("hour", 36, column) }}
        else {{ column }}
    end
{%- endmacro %}

{% macro date_only_end(column, is_date_only) -%}
    case
        when {{ is_date_only }} then {{ dbt.dateadd("hour", -14, column) }}
        else {{ column }}
    end
{%- endmacro %}
