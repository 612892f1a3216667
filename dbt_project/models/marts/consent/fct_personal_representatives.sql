{#-
    One row per version of a personal representative on file (45 CFR 164.502(g)):
    who may sign for whom, in which role, over which period.
    1. The role comes from the HL7 v3 RoleCode of the EHR's RelatedPerson: MTH, FTH
       and PRN are parents, GUARD a guardian, POWATT and HPOWATT a health care power
       of attorney, EXEC an executor. Any other relationship gives no authority.
    2. A version holds from when the organization knew it until the next version of
       the same RelatedPerson was known.
-#}
with

related_persons as (

    select * from {{ ref('stg_ehr__related_persons') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

versioned as (

    select
        related_persons.*,
        lead(related_persons.known_at) over (
            partition by related_persons.related_person_id
            order by related_persons.last_updated_at, related_persons.known_at
        ) as superseded_at
    from related_persons

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            "versioned.related_person_id", "'|'",
            "coalesce(versioned.version_id, '')", "'|'",
            "coalesce(cast(versioned.last_updated_at as " ~ dbt.type_string() ~ "), '')",
            "'|'", "versioned.batch_id",
        ])) }} as representative_version_id,
        versioned.related_person_id,
        links.person_id as subject_person_id,
        versioned.patient_id,

        ---------- attributes
        versioned.relationship_code,
        case
            when versioned.relationship_code in ('MTH', 'FTH', 'PRN') then 'parent'
            when versioned.relationship_code = 'GUARD' then 'guardian'
            when versioned.relationship_code in ('POWATT', 'HPOWATT')
                then 'healthcarepoa'
            when versioned.relationship_code = 'EXEC' then 'executor'
        end as representative_role,

        ---------- timestamps
        versioned.period_start_at as valid_from,
        versioned.period_end_at as valid_to,
        versioned.known_at,
        versioned.superseded_at

    from versioned
    left join links
        on versioned.patient_id = links.source_record_id

)

select * from final
