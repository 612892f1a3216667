{#-
    One row per final laboratory result of a value set (HbA1c, cholesterol) taken
    in the three years before `as_of`, with its value, unit and the days since.
    1. Codes come from seeds/clinical_value_sets.csv (`data_category` labs, LOINC);
       records with a security label never count.
    2. `is_latest` marks each person's newest result of a value set.
-#}
with

clinical_records as (

    select * from {{ ref('int_clinical_records_coded') }}
    where
        record_kind = 'observation'
        and record_status in ('final', 'amended', 'corrected')
        and started_at <= {{ as_of() }}
        and started_at > {{ dbt.dateadd("year", -3, as_of()) }}

),

ranked as (

    select
        clinical_records.*,
        row_number() over (
            partition by clinical_records.person_id, clinical_records.value_set
            order by
                clinical_records.started_at desc,
                clinical_records.record_id asc
        ) as recency_rank,
        {{ as_of() }} as evaluated_as_of
    from clinical_records

),

final as (

    select
        ---------- ids
        clinical_record_id as recent_lab_id,
        person_id,

        ---------- attributes
        value_set,
        data_category,
        code as loinc_code,
        display,
        value_unit,

        ---------- numerics
        value_number,
        {{ dbt.datediff("started_at", "evaluated_as_of", "day") }}
            as days_since_taken,

        ---------- booleans
        recency_rank = 1 as is_latest,

        ---------- timestamps
        started_at as taken_at,
        evaluated_as_of

    from ranked

)

select * from final
