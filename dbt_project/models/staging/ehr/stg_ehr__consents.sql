with

source as (

    select * from {{ source('ehr', 'ehr_consents') }}

),

renamed as (

    select
        ---------- ids
        consent_id,
        patient_id,
        version_id,

        ---------- attributes
        lower(status) as status,
        lower(kind) as consent_kind,
        lower(provision_type) as provision_type,
        {{ normalize_list('purposes') }} as purposes,
        {{ normalize_list('actions') }} as channels,
        {{ normalize_list('actors') }} as recipients,
        {{ normalize_list('service_codes') }} as service_codes,
        lower(alt_contact_system) as alt_contact_system,
        alt_contact_value,

        ---------- timestamps
        period_start_at,
        period_end_at,
        agreed_at,
        {{ known_at('coalesce(agreed_at, _record_at)') }} as known_at,
        _received_at as received_at,
        _batch_id as batch_id

    from source

)

select * from renamed
