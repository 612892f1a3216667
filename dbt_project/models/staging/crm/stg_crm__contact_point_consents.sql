with

source as (

    select * from {{ source('crm', 'crm_contact_point_consents') }}

),

renamed as (

    select
        ---------- ids
        contact_point_consent_id,
        party_id as crm_contact_id,
        nullif(trim(list_id), '') as list_id,

        ---------- attributes
        lower(contact_point_type) as contact_point_type,
        upper(trim(data_use_purpose)) as purpose_code,
        lower(privacy_consent_status) as consent_status,
        contact_point_value,
        capture_source,

        ---------- booleans
        coalesce(is_deleted, false) as is_deleted,

        ---------- timestamps
        {{ date_only_start('effective_from_at', 'effective_from_is_date_only') }}
            as effective_from_at,
        {{ date_only_end('effective_to_at', 'effective_to_is_date_only') }}
            as effective_to_at,
        capture_at,
        last_modified_at,
        {{ known_at('coalesce(capture_at, _record_at)') }} as known_at,
        _received_at as received_at,
        _batch_id as batch_id

    from source

)

select * from renamed
