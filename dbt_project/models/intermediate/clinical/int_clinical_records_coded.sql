{#-
    One row per EHR clinical record (condition, procedure, immunization, lab
    observation, medication request) whose code is in a value set of
    seeds/clinical_value_sets.csv, at its newest version known at `as_of`, with the
    person it belongs to and the data category of its value set.
    1. Facts count only once known (RULES.md 1.3): versions with `known_at` after
       the instant are ignored; the newest remaining version (`meta.lastUpdated`,
       then when it was known) is the record.
    2. A record reaches a person only through the EHR patient it names.
    3. Fail closed on sensitive care: a record that carries any security label, or
       whose encounter carries one in any version (42 CFR Part 2, psychotherapy,
       self-pay), never becomes a building block (R-SENS, R-SUD-P2, R-RESTRICT).
    4. Only codes listed in a value set pass, so a sensitive diagnosis cannot reach
       a non-sensitive block through an unlisted code.
    This model mixes data categories row by row, so its columns carry no category:
    segments read the marts built on it, never this model.
-#}
with

value_sets as (

    select * from {{ ref('clinical_value_sets') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'ehr'

),

encounters as (

    select * from {{ ref('stg_ehr__encounters') }}

),

conditions as (

    select * from {{ ref('stg_ehr__conditions') }}
    where known_at <= {{ as_of() }}

),

procedures as (

    select * from {{ ref('stg_ehr__procedures') }}
    where known_at <= {{ as_of() }}

),

immunizations as (

    select * from {{ ref('stg_ehr__immunizations') }}
    where known_at <= {{ as_of() }}

),

observations as (

    select * from {{ ref('stg_ehr__observations') }}
    where known_at <= {{ as_of() }}

),

medication_requests as (

    select * from {{ ref('stg_ehr__medication_requests') }}
    where known_at <= {{ as_of() }}

),

labelled_encounters as (

    select distinct encounter_id
    from encounters
    where security_labels != ';'

),

records_unioned as (

    select
        'condition' as record_kind,
        condition_id as record_id,
        patient_id,
        encounter_id,
        code_system,
        trim(code) as code,
        clinical_status as record_status,
        security_labels,
        onset_at as started_at,
        abatement_at as ended_at,
        cast(null as {{ dbt.type_float() }}) as value_number,
        cast(null as {{ dbt.type_string() }}) as value_unit,
        last_updated_at,
        known_at
    from conditions

    union all

    select
        'procedure' as record_kind,
        procedure_id as record_id,
        patient_id,
        encounter_id,
        code_system,
        trim(code) as code,
        procedure_status as record_status,
        security_labels,
        performed_at as started_at,
        cast(null as {{ dbt.type_timestamp() }}) as ended_at,
        cast(null as {{ dbt.type_float() }}) as value_number,
        cast(null as {{ dbt.type_string() }}) as value_unit,
        last_updated_at,
        known_at
    from procedures

    union all

    select
        'immunization' as record_kind,
        immunization_id as record_id,
        patient_id,
        encounter_id,
        code_system,
        trim(code) as code,
        immunization_status as record_status,
        security_labels,
        occurred_at as started_at,
        cast(null as {{ dbt.type_timestamp() }}) as ended_at,
        cast(null as {{ dbt.type_float() }}) as value_number,
        cast(null as {{ dbt.type_string() }}) as value_unit,
        last_updated_at,
        known_at
    from immunizations

    union all

    select
        'observation' as record_kind,
        observation_id as record_id,
        patient_id,
        encounter_id,
        code_system,
        trim(code) as code,
        observation_status as record_status,
        security_labels,
        effective_at as started_at,
        cast(null as {{ dbt.type_timestamp() }}) as ended_at,
        value_number,
        value_unit,
        last_updated_at,
        known_at
    from observations

    union all

    select
        'medication_request' as record_kind,
        medication_request_id as record_id,
        patient_id,
        encounter_id,
        code_system,
        trim(code) as code,
        medication_request_status as record_status,
        security_labels,
        coalesce(validity_start_at, authored_at) as started_at,
        validity_end_at as ended_at,
        cast(null as {{ dbt.type_float() }}) as value_number,
        cast(null as {{ dbt.type_string() }}) as value_unit,
        last_updated_at,
        known_at
    from medication_requests

),

newest_versions as (

    select *
    from (
        select
            records_unioned.*,
            row_number() over (
                partition by
                    records_unioned.record_kind,
                    records_unioned.record_id,
                    records_unioned.code_system,
                    records_unioned.code
                order by
                    records_unioned.last_updated_at desc,
                    records_unioned.known_at desc
            ) as version_rank
        from records_unioned
    ) as ranked
    where version_rank = 1

),

coded as (

    select
        newest_versions.record_kind,
        newest_versions.record_id,
        newest_versions.patient_id,
        newest_versions.encounter_id,
        value_sets.value_set,
        value_sets.data_category,
        newest_versions.code_system,
        newest_versions.code,
        value_sets.display,
        newest_versions.record_status,
        newest_versions.started_at,
        newest_versions.ended_at,
        newest_versions.value_number,
        newest_versions.value_unit,
        newest_versions.known_at
    from newest_versions
    inner join value_sets
        on
            newest_versions.code_system = value_sets.code_system
            and newest_versions.code = value_sets.code
    left join labelled_encounters
        on newest_versions.encounter_id = labelled_encounters.encounter_id
    where
        newest_versions.security_labels = ';'
        and labelled_encounters.encounter_id is null

),

{# A record coded twice in one value set (SNOMED CT and ICD-10-CM) is one fact. -#}
deduplicated as (

    select
        record_kind,
        record_id,
        value_set,
        min(patient_id) as patient_id,
        min(encounter_id) as encounter_id,
        min(data_category) as data_category,
        min(code_system) as code_system,
        min(code) as code,
        min(display) as display,
        min(record_status) as record_status,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        max(value_number) as value_number,
        max(value_unit) as value_unit,
        max(known_at) as known_at
    from coded
    group by record_kind, record_id, value_set

),

final as (

    select
        ---------- ids
        {{ dbt.hash(dbt.concat([
            "deduplicated.record_kind", "'|'",
            "deduplicated.record_id", "'|'",
            "deduplicated.value_set",
        ])) }} as clinical_record_id,
        deduplicated.record_id,
        links.person_id,
        deduplicated.encounter_id,

        ---------- attributes
        deduplicated.record_kind,
        deduplicated.value_set,
        deduplicated.data_category,
        deduplicated.code_system,
        deduplicated.code,
        deduplicated.display,
        deduplicated.record_status,
        deduplicated.value_unit,

        ---------- numerics
        deduplicated.value_number,

        ---------- timestamps
        deduplicated.started_at,
        deduplicated.ended_at,
        deduplicated.known_at

    from deduplicated
    inner join links
        on deduplicated.patient_id = links.source_record_id

)

select * from final
