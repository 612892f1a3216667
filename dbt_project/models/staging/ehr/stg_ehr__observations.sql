with

source as (

    select * from {{ source('ehr', 'ehr_observations') }}

),

renamed as (

    select
        ---------- ids
        observation_id,
        patient_id,
        encounter_id,
        version_id,

        ---------- attributes
        code_system,
        code,
        lower(status) as observation_status,
        value_unit,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- numerics
        value_number,

        ---------- timestamps
        effective_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
