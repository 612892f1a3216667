with

source as (

    select * from {{ source('ehr', 'ehr_conditions') }}

),

renamed as (

    select
        ---------- ids
        condition_id,
        patient_id,
        encounter_id,
        version_id,

        ---------- attributes
        code_system,
        code,
        lower(clinical_status) as clinical_status,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- timestamps
        onset_at,
        abatement_at,
        recorded_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
