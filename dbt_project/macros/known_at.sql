{#- When the organization knew a record (INPUTS.md): the record's own time when the
    contract names one, never later than the batch's received_at. A record time later
    than its batch is a data error and counts from the batch. -#}
{% macro known_at(record_at="_record_at", received_at="_received_at") -%}
    case
        when {{ record_at }} is null or {{ record_at }} > {{ received_at }}
            then {{ received_at }}
        else {{ record_at }}
    end
{%- endmacro %}
