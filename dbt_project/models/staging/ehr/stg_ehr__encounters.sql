with

source as (

    select * from {{ source('ehr', 'ehr_encounters') }}

),

renamed as (

    select
        ---------- ids
        encounter_id,
        patient_id,
        practitioner_id,
        version_id,

        ---------- attributes
        lower(status) as encounter_status,
        class_code,
        type_code,
        type_display,
        service_type_code as department_code,
        service_type_display as department_name,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- timestamps
        period_start_at as started_at,
        period_end_at as ended_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _source_line as source_line

    from source

)

select * from renamed
