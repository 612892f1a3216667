with

source as (

    select * from {{ source('ehr', 'ehr_immunizations') }}

),

renamed as (

    select
        ---------- ids
        immunization_id,
        patient_id,
        encounter_id,
        version_id,

        ---------- attributes
        code_system,
        code,
        lower(status) as immunization_status,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- timestamps
        occurred_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
