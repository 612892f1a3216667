with

source as (

    select * from {{ source('engagement', 'esp_sendgrid_events') }}

),

renamed as (

    select
        ---------- ids
        sg_event_id as email_event_id,
        sg_message_id as message_id,
        contact_id as crm_contact_id,
        campaign_id,
        workflow_id,
        step_id,
        asm_group_id as list_id,

        ---------- attributes
        lower(event) as event_type,
        {{ normalize_email('email') }} as email_norm,
        bounce_type,

        ---------- booleans
        coalesce(is_machine_open, false) as is_machine_open,

        ---------- timestamps
        occurred_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
