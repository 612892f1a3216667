{#-
    One row per finished EHR encounter (a visit) that started at or before
    `as_of`, at its newest version known then, with the person, department and
    treating clinician: the dates of care, department of service and treating
    physician that 45 CFR 164.514(f)(1) lets fundraising use.
    1. Versions known after `as_of` are ignored (RULES.md 1.3).
    2. Fail closed: an encounter that carries a security label in any version
       (42 CFR Part 2, psychotherapy, self-pay) is left out (R-SENS, R-SUD-P2).
-#}
with

encounters as (

    select * from {{ ref('stg_ehr__encounters') }}
    where known_at <= {{ as_of() }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

labelled_encounters as (

    select distinct encounter_id
    from {{ ref('stg_ehr__encounters') }}
    where security_labels != ';'

),

newest_versions as (

    select *
    from (
        select
            encounters.*,
            row_number() over (
                partition by encounters.encounter_id
                order by encounters.last_updated_at desc, encounters.known_at desc
            ) as version_rank
        from encounters
    ) as ranked
    where version_rank = 1

),

final as (

    select
        ---------- ids
        newest_versions.encounter_id,
        links.person_id,
        newest_versions.practitioner_id,

        ---------- attributes
        newest_versions.department_code,
        newest_versions.department_name,

        ---------- timestamps
        newest_versions.started_at,
        newest_versions.known_at

    from newest_versions
    inner join links
        on newest_versions.patient_id = links.source_record_id
    left join labelled_encounters
        on newest_versions.encounter_id = labelled_encounters.encounter_id
    where
        newest_versions.encounter_status = 'finished'
        and newest_versions.started_at <= {{ as_of() }}
        and labelled_encounters.encounter_id is null

)

select * from final
