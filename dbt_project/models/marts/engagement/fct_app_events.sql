{#-
    One row per app event (`event_id`): portal logins, forms, appointments,
    purchases and conversions, with the campaign step they are attributed to.
    Append-only and incremental by landing batch, like fct_email_events.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="fail",
    )
}}

with

app_events as (

    select * from {{ ref('stg_engagement__app_events') }}
    {{ new_batches_only() }}

),

final as (

    select
        app_event_id,
        crm_contact_id,
        mrn,
        campaign_id,
        workflow_id,
        step_id,
        message_sid,
        event_type,
        occurred_at,
        known_at,
        batch_id
    from app_events

)

select * from final
