with

source as (

    select * from {{ source('engagement', 'sms_twilio_messages') }}

),

renamed as (

    select
        ---------- ids
        message_sid,

        ---------- attributes
        lower(message_kind) as message_kind,
        lower(message_status) as message_status,
        to_number,
        from_number,
        upper(trim(opt_out_type)) as opt_out_type,
        upper(trim(body)) as body_upper,

        ---------- timestamps
        occurred_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
