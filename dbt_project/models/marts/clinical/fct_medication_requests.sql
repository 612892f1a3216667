{#-
    One row per version of an EHR medication request for an RxNorm drug, with the
    person it belongs to; a version holds from `known_at` until `superseded_at`.
    R-MKT-EXC-REFILL reads it to decide whether a drug is currently prescribed
    (INPUTS.md: `active` or `completed`, validity period open or ended at most 90
    days before the instant).
    1. Only RxNorm codings count: a refill reminder names its drug by RxNorm code.
    2. Versions are ordered as INPUTS.md says (`meta.lastUpdated`, then the time the
       organization knew them); a newer version replaces the older from its own time.
    3. A request reaches a person only through the EHR patient it names.
-#}
with

medication_requests as (

    select * from {{ ref('stg_ehr__medication_requests') }}
    where code_system = 'http://www.nlm.nih.gov/research/umls/rxnorm'

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

versioned as (

    select
        medication_requests.*,
        lead(medication_requests.known_at) over (
            partition by medication_requests.medication_request_id
            order by
                medication_requests.last_updated_at,
                medication_requests.known_at,
                medication_requests.batch_id
        ) as superseded_at
    from medication_requests

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            "versioned.batch_id", "'|'",
            "versioned.source_file", "'|'",
            "cast(versioned.source_line as " ~ dbt.type_string() ~ ")",
        ])) }} as medication_request_version_id,
        versioned.medication_request_id,
        links.person_id,
        versioned.patient_id,

        ---------- attributes
        trim(versioned.code) as rxnorm_code,
        versioned.medication_request_status,

        ---------- timestamps
        versioned.authored_at,
        versioned.validity_start_at,
        versioned.validity_end_at,
        versioned.known_at,
        versioned.superseded_at,
        versioned.batch_id

    from versioned
    left join links
        on versioned.patient_id = links.source_record_id

)

select * from final
