with

source as (

    select * from {{ source('engagement', 'app_events') }}

),

renamed as (

    select
        ---------- ids
        event_id as app_event_id,
        contact_id as crm_contact_id,
        mrn,
        campaign_id,
        workflow_id,
        step_id,
        message_sid,

        ---------- attributes
        lower(event_type) as event_type,

        ---------- timestamps
        occurred_at,
        {{ known_at() }} as known_at,
        _batch_id as batch_id

    from source

)

select * from renamed
