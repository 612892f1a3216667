{#- The body of an active-diagnosis block: one row per person and value set of
    `data_category` with a condition active at `as_of` (clinical status active,
    onset at or before the instant, no abatement by then). With `max_onset_days`,
    an onset older than that many days no longer counts. -#}
{% macro active_diagnoses(data_category, max_onset_days=none) -%}
with

clinical_records as (

    select * from {{ ref('int_clinical_records_coded') }}
    where
        record_kind = 'condition'
        and data_category = '{{ data_category }}'

),

active_records as (

    select *
    from clinical_records
    where
        record_status = 'active'
        and (started_at is null or started_at <= {{ clearlist.as_of() }})
        and (ended_at is null or ended_at > {{ clearlist.as_of() }})
        {%- if max_onset_days is not none %}
        and started_at > {{ dbt.dateadd("day", -max_onset_days, clearlist.as_of()) }}
        {%- endif %}

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat(["person_id", "'|'", "value_set"])) }}
            as active_diagnosis_id,
        person_id,

        ---------- attributes
        value_set,
        data_category,

        ---------- numerics
        count(*) as condition_count,

        ---------- timestamps
        min(started_at) as first_onset_at,
        max(known_at) as last_known_at,
        {{ clearlist.as_of() }} as evaluated_as_of

    from active_records
    group by person_id, value_set, data_category

)

select * from final
{%- endmacro %}
