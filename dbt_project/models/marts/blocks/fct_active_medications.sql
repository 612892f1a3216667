{#-
    One row per person and RxNorm drug currently prescribed at `as_of`.
    1. Drugs come from seeds/clinical_value_sets.csv (`data_category` medications),
       matched on the request's RxNorm code; records with a security label never
       count.
    2. Currently prescribed, as R-MKT-EXC-REFILL reads it: the request is `active`
       or `completed`, started at or before `as_of`, and its validity period is
       open or ended at most 90 days before `as_of` (HHS refill-reminder FAQ).
       A refill reminder's eligibility and the gate check this again on their own.
-#}
with

clinical_records as (

    select * from {{ ref('int_clinical_records_coded') }}
    where
        record_kind = 'medication_request'
        and record_status in ('active', 'completed')
        and (started_at is null or started_at <= {{ as_of() }})
        and (
            ended_at is null
            or ended_at >= {{ dbt.dateadd("day", -90, as_of()) }}
        )

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat(["person_id", "'|'", "code"])) }}
            as active_medication_id,
        person_id,

        ---------- attributes
        code as rxnorm_code,
        min(display) as drug_name,
        min(value_set) as value_set,
        min(data_category) as data_category,

        ---------- numerics
        count(*) as request_count,

        ---------- timestamps
        min(started_at) as first_prescribed_at,
        max(ended_at) as prescribed_until,
        {{ as_of() }} as evaluated_as_of

    from clinical_records
    group by person_id, code

)

select * from final
