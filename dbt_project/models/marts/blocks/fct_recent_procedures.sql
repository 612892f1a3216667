{#-
    One row per completed procedure of a value set (mammography, colonoscopy,
    surgery that needs a follow-up) performed in the three years before `as_of`,
    with the person and the days since it was performed.
    1. Codes come from seeds/clinical_value_sets.csv (`data_category` procedures);
       records with a security label never count.
    2. Three years covers the longest screening look-back of the samples (27
       months for mammography, HEDIS BCS-E).
-#}
with

clinical_records as (

    select
        *,
        {{ as_of() }} as evaluated_as_of
    from {{ ref('int_clinical_records_coded') }}
    where
        record_kind = 'procedure'
        and record_status = 'completed'
        and started_at <= {{ as_of() }}
        and started_at > {{ dbt.dateadd("year", -3, as_of()) }}

),

final as (

    select
        ---------- ids
        clinical_record_id as recent_procedure_id,
        person_id,

        ---------- attributes
        value_set,
        data_category,
        code_system,
        code,
        display,

        ---------- numerics
        {{ dbt.datediff("started_at", "evaluated_as_of", "day") }}
            as days_since_performed,

        ---------- timestamps
        started_at as performed_at,
        evaluated_as_of

    from clinical_records

)

select * from final
