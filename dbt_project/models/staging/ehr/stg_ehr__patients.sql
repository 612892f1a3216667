with

source as (

    select * from {{ source('ehr', 'ehr_patients') }}

),

renamed as (

    select
        ---------- ids
        patient_id,
        mrn,
        version_id,

        ---------- attributes
        given_name,
        family_name,
        gender,
        birth_date,
        upper(trim(address_state)) as residence_state,
        address_postal_code as postal_code,
        {{ normalize_email('email') }} as email_norm,
        mobile_phone,
        language,
        {{ normalize_list('security_labels') }} as security_labels,

        ---------- booleans
        coalesce(is_deceased, false) or deceased_at is not null as is_deceased,

        ---------- timestamps
        deceased_at,
        last_updated_at,
        {{ known_at() }} as known_at,
        _received_at as received_at,
        _batch_id as batch_id

    from source

)

select * from renamed
