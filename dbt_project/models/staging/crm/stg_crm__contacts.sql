with

source as (

    select * from {{ source('crm', 'crm_contacts') }}

),

renamed as (

    select
        ---------- ids
        contact_id as crm_contact_id,
        nullif(trim(mrn), '') as mrn,

        ---------- attributes
        first_name,
        last_name,
        {{ normalize_email('email') }} as email_norm,
        mobile_phone,
        upper(trim(mailing_state)) as residence_state,
        mailing_postal_code as postal_code,
        birth_date,

        ---------- booleans
        coalesce(has_opted_out_of_email, false) as has_opted_out_of_email,
        coalesce(do_not_call, false) as is_do_not_call,
        coalesce(email_verified, false) as is_email_verified,
        coalesce(is_deleted, false) as is_deleted,

        ---------- timestamps
        last_modified_at,
        {{ known_at() }} as known_at,
        _received_at as received_at,
        _batch_id as batch_id

    from source

)

select * from renamed
