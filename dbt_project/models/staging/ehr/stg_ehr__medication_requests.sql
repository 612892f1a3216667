with

source as (

    select * from {{ source('ehr', 'ehr_medication_requests') }}

),

renamed as (

    select
        ---------- ids
        medication_request_id,
        patient_id,
        encounter_id,
        version_id,

        ---------- attributes
        code_system,
        code,
        lower(status) as medication_request_status,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- timestamps
        authored_at,
        validity_start_at,
        validity_end_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _source_line as source_line

    from source

)

select * from renamed
