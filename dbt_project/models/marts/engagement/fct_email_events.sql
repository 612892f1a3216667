{#-
    One row per email event (SendGrid `sg_event_id`), as delivered by the ESP's
    webhook. Append-only and incremental by landing batch: a new engagement batch adds
    its events without rebuilding the history (ingestion already dropped replays).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="fail",
    )
}}

with

email_events as (

    select * from {{ ref('stg_engagement__email_events') }}
    {{ new_batches_only() }}

),

final as (

    select
        email_event_id,
        message_id,
        crm_contact_id,
        campaign_id,
        workflow_id,
        step_id,
        list_id,
        event_type,
        email_norm,
        bounce_type,
        is_machine_open,
        occurred_at,
        known_at,
        batch_id
    from email_events

)

select * from final
