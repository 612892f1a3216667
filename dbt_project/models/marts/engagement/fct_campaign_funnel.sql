{#-
    One row per campaign, workflow and step: how many distinct people reached each
    stage of an email send (R-AGG: a stage counts distinct people).
    1. Sent = processed by the ESP; delivered; opened by a person (machine opens,
       such as Apple Mail privacy prefetch, are counted apart and never as opens);
       clicked; converted = an app conversion attributed to the same step.
    2. Drop-off is the share of the previous stage that did not reach the next.
    Counts here are internal: anything that leaves the warehouse suppresses small
    cells first.
-#}
with

email_events as (

    select * from {{ ref('fct_email_events') }}

),

app_events as (

    select * from {{ ref('fct_app_events') }}

),

step_events as (

    select
        campaign_id,
        workflow_id,
        step_id,
        crm_contact_id,
        event_type,
        is_machine_open
    from email_events
    where campaign_id is not null and crm_contact_id is not null

),

conversions as (

    select
        campaign_id,
        workflow_id,
        step_id,
        count(distinct crm_contact_id) as converted
    from app_events
    where event_type = 'conversion' and campaign_id is not null
    group by campaign_id, workflow_id, step_id

),

stage_counts as (

    select
        campaign_id,
        workflow_id,
        step_id,
        count(distinct case when event_type = 'processed' then crm_contact_id end)
            as sent,
        count(distinct case when event_type = 'delivered' then crm_contact_id end)
            as delivered,
        count(
            distinct case
                when event_type = 'open' and not is_machine_open then crm_contact_id
            end
        ) as opened,
        count(
            distinct case
                when event_type = 'open' and is_machine_open then crm_contact_id
            end
        ) as machine_opened,
        count(distinct case when event_type = 'click' then crm_contact_id end)
            as clicked
    from step_events
    group by campaign_id, workflow_id, step_id

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "stage_counts.campaign_id", "'|'",
            "coalesce(stage_counts.workflow_id, '')", "'|'",
            "coalesce(stage_counts.step_id, '')",
        ])) }} as funnel_step_id,
        stage_counts.campaign_id,
        stage_counts.workflow_id,
        stage_counts.step_id,
        stage_counts.sent,
        stage_counts.delivered,
        stage_counts.opened,
        stage_counts.machine_opened,
        stage_counts.clicked,
        coalesce(conversions.converted, 0) as converted,
        1.0 - stage_counts.delivered / nullif(stage_counts.sent, 0)
            as delivery_drop_off,
        1.0 - stage_counts.opened / nullif(stage_counts.delivered, 0)
            as open_drop_off,
        1.0 - stage_counts.clicked / nullif(stage_counts.opened, 0)
            as click_drop_off,
        1.0 - coalesce(conversions.converted, 0) / nullif(stage_counts.clicked, 0)
            as conversion_drop_off
    from stage_counts
    left join conversions
        on
            stage_counts.campaign_id = conversions.campaign_id
            and stage_counts.workflow_id = conversions.workflow_id
            and stage_counts.step_id = conversions.step_id

)

select * from final
