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

{#- The same reading for a date computed in SQL (a birthday, say), given as a date
    expression: the earliest instant its day begins anywhere (UTC+14, D-1 10:00Z),
    for when something ends on it, and the latest (UTC-12, D 12:00Z), for when
    something may start only once the day has begun everywhere. -#}
{% macro date_begins_first(date_sql) -%}
    {{ dbt.dateadd(
        "hour", -14, "cast(" ~ date_sql ~ " as " ~ dbt.type_timestamp() ~ ")"
    ) }}
{%- endmacro %}

{% macro date_begins_last(date_sql) -%}
    {{ dbt.dateadd(
        "hour", 12, "cast(" ~ date_sql ~ " as " ~ dbt.type_timestamp() ~ ")"
    ) }}
{%- endmacro %}
