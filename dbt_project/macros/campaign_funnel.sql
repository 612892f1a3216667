{#-
    Engagement funnels, as the marts build them and as functions of an instant.

    `campaign_step_people(as_of)` is one row per person and campaign step, with the
    first time the person reached each stage among the events the organization knew
    at `as_of` (RULES.md 1.3: `known_at`, never the load time):
    1. People, not addresses or contact records (R-AGG: a stage counts distinct
       people): a CRM contact counts as the person identity resolution linked it to
       (int_source_records_linked); an unlinked contact, or an app event with only an
       MRN, counts as the person the same identity key would make.
    2. Sent = the ESP processed the message; delivered = the ESP reports delivery.
    3. Opened = an open by a person. SendGrid flags an open it attributes to a
       machine (Apple Mail Privacy Protection and other proxies that fetch images
       before anyone reads the mail) with `sg_machine_open = true`, which ingestion
       keeps as `is_machine_open`. Such an open never counts as opened: a person whose
       only opens at a step are machine opens is "machine-opened only", and a person
       with both counts as opened. Opened (any) is the union of the two.
    4. Clicked = any click on a tracked link; converted = an app conversion the app
       attributes to the same campaign step. Neither needs an earlier stage.
    5. Events without a campaign or a step belong to no funnel.
    6. Steps are numbered within a workflow in the order of their first send.

    `campaign_funnel(step_people)` counts those people per campaign, workflow and
    step: distinct people per stage, the drop-off between stages and between steps,
    and the median and 90th percentile of the hours from delivery to the first open.

    On DuckDB a post-hook of fct_campaign_funnel stores both as table macros, so the
    command line and the notebook ask for any instant without a rebuild:

        marts.campaign_funnel_at(p_as_of)
        marts.segment_campaign_funnel_at(p_as_of, p_segment)

    the second counting only the people a built segment (a relation name) included.
    These counts are internal: pipelines/lib/suppression.py suppresses small cells
    (R-AGG) before any of them leaves the warehouse.
-#}
{% macro campaign_step_people(as_of, people_filter=none) -%}
with

email_events as (

    select * from {{ ref('fct_email_events') }}
    where
        known_at <= {{ as_of }}
        and campaign_id is not null
        and step_id is not null
        and crm_contact_id is not null

),

app_events as (

    select * from {{ ref('fct_app_events') }}
    where
        known_at <= {{ as_of }}
        and event_type = 'conversion'
        and campaign_id is not null
        and step_id is not null

),

source_records as (

    select * from {{ ref('int_source_records_linked') }}
    where source_system = 'crm'

),

email_events_with_people as (

    select
        coalesce(
            source_records.person_id,
            {{ dbt.hash(dbt.concat(["'crm:'", "email_events.crm_contact_id"])) }}
        ) as person_id,
        email_events.campaign_id,
        email_events.workflow_id,
        email_events.step_id,
        email_events.event_type,
        email_events.is_machine_open,
        email_events.occurred_at
    from email_events
    left join source_records
        on email_events.crm_contact_id = source_records.source_record_id

),

summarize_email_stages as (

    select
        person_id,
        campaign_id,
        workflow_id,
        step_id,
        min(case when event_type = 'processed' then occurred_at end) as sent_at,
        min(case when event_type = 'delivered' then occurred_at end)
            as delivered_at,
        min(
            case
                when event_type = 'open' and not is_machine_open then occurred_at
            end
        ) as opened_at,
        min(
            case when event_type = 'open' and is_machine_open then occurred_at end
        ) as machine_opened_at,
        min(case when event_type = 'click' then occurred_at end) as clicked_at
    from email_events_with_people
    group by person_id, campaign_id, workflow_id, step_id

),

summarize_conversions as (

    select
        coalesce(
            source_records.person_id,
            case
                when app_events.crm_contact_id is not null
                    then
                        {{ dbt.hash(dbt.concat([
                            "'crm:'", "app_events.crm_contact_id"
                        ])) }}
            end,
            {{ dbt.hash(dbt.concat(["'mrn:'", "app_events.mrn"])) }}
        ) as person_id,
        app_events.campaign_id,
        app_events.workflow_id,
        app_events.step_id,
        min(app_events.occurred_at) as converted_at
    from app_events
    left join source_records
        on app_events.crm_contact_id = source_records.source_record_id
    group by 1, 2, 3, 4

),

join_conversions as (

    select
        coalesce(
            summarize_email_stages.person_id, summarize_conversions.person_id
        ) as person_id,
        coalesce(
            summarize_email_stages.campaign_id, summarize_conversions.campaign_id
        ) as campaign_id,
        coalesce(
            summarize_email_stages.workflow_id, summarize_conversions.workflow_id
        ) as workflow_id,
        coalesce(
            summarize_email_stages.step_id, summarize_conversions.step_id
        ) as step_id,
        summarize_email_stages.sent_at,
        summarize_email_stages.delivered_at,
        summarize_email_stages.opened_at,
        summarize_email_stages.machine_opened_at,
        summarize_email_stages.clicked_at,
        summarize_conversions.converted_at
    from summarize_email_stages
    full outer join summarize_conversions
        on
            summarize_email_stages.person_id = summarize_conversions.person_id
            and summarize_email_stages.campaign_id = summarize_conversions.campaign_id
            and coalesce(summarize_email_stages.workflow_id, '')
            = coalesce(summarize_conversions.workflow_id, '')
            and summarize_email_stages.step_id = summarize_conversions.step_id

),

{%- if people_filter %}

keep_filtered_people as (

    select * from join_conversions
    where person_id in ({{ people_filter }})

),
{%- endif %}

first_sends as (

    select
        campaign_id,
        workflow_id,
        step_id,
        min(sent_at) as first_sent_at
    from {{ "keep_filtered_people" if people_filter else "join_conversions" }}
    group by campaign_id, workflow_id, step_id

),

number_steps as (

    select
        campaign_id,
        workflow_id,
        step_id,
        dense_rank() over (
            partition by campaign_id, workflow_id
            order by first_sent_at asc nulls last, step_id asc
        ) as step_number
    from first_sends

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "people.campaign_id", "'|'",
            "coalesce(people.workflow_id, '')", "'|'",
            "people.step_id", "'|'",
            "people.person_id",
        ])) }} as campaign_step_person_id,
        people.person_id,
        people.campaign_id,
        people.workflow_id,
        people.step_id,
        number_steps.step_number,

        people.sent_at is not null as is_sent,
        people.delivered_at is not null as is_delivered,
        people.opened_at is not null as is_opened,
        people.opened_at is null and people.machine_opened_at is not null
            as is_machine_opened_only,
        people.opened_at is not null or people.machine_opened_at is not null
            as is_opened_any,
        people.clicked_at is not null as is_clicked,
        people.converted_at is not null as is_converted,

        case
            when people.opened_at >= people.delivered_at
                then {{ dbt.datediff(
                    "people.delivered_at", "people.opened_at", "second"
                ) }} / 3600.0
        end as hours_to_open,

        people.sent_at,
        people.delivered_at,
        people.opened_at,
        people.machine_opened_at,
        people.clicked_at,
        people.converted_at
    from {{ "keep_filtered_people" if people_filter else "join_conversions" }}
        as people
    inner join number_steps
        on
            people.campaign_id = number_steps.campaign_id
            and coalesce(people.workflow_id, '')
            = coalesce(number_steps.workflow_id, '')
            and people.step_id = number_steps.step_id

)

select * from final
{%- endmacro %}


{% macro campaign_funnel(step_people) -%}
with

step_people as (

    select * from {{ step_people }} as step_people_rows

),

count_stages as (

    select
        campaign_id,
        workflow_id,
        step_id,
        min(step_number) as step_number,
        count(distinct case when is_sent then person_id end) as sent,
        count(distinct case when is_delivered then person_id end) as delivered,
        count(distinct case when is_opened_any then person_id end) as opened_any,
        count(distinct case when is_opened then person_id end) as opened,
        count(distinct case when is_machine_opened_only then person_id end)
            as machine_opened_only,
        count(distinct case when is_clicked then person_id end) as clicked,
        count(distinct case when is_converted then person_id end) as converted,
        {{ clearlist.percentile("hours_to_open", 0.5) }} as median_hours_to_open,
        {{ clearlist.percentile("hours_to_open", 0.9) }} as p90_hours_to_open
    from step_people
    group by campaign_id, workflow_id, step_id

),

find_previous_step as (

    select
        count_stages.*,
        lag(sent) over (
            partition by campaign_id, workflow_id
            order by step_number
        ) as previous_step_sent
    from count_stages

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "campaign_id", "'|'",
            "coalesce(workflow_id, '')", "'|'",
            "step_id",
        ])) }} as funnel_step_id,
        campaign_id,
        workflow_id,
        step_id,
        step_number,

        sent,
        delivered,
        opened_any,
        opened,
        machine_opened_only,
        clicked,
        converted,
        previous_step_sent,

        1.0 - 1.0 * delivered / nullif(sent, 0) as delivery_drop_off,
        1.0 - 1.0 * opened / nullif(delivered, 0) as open_drop_off,
        1.0 - 1.0 * clicked / nullif(opened, 0) as click_drop_off,
        1.0 - 1.0 * converted / nullif(clicked, 0) as conversion_drop_off,
        1.0 - 1.0 * sent / nullif(previous_step_sent, 0) as step_drop_off,

        median_hours_to_open,
        p90_hours_to_open
    from find_previous_step

)

select * from final
{%- endmacro %}


{#- A continuous percentile of a numeric column, across adapters. -#}
{% macro percentile(expression, fraction) -%}
    {{ return(adapter.dispatch("percentile", "clearlist")(expression, fraction)) }}
{%- endmacro %}

{% macro default__percentile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__percentile(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}


{#- The post-hook of fct_campaign_funnel: the funnels as functions of an instant. -#}
{% macro create_campaign_funnel_functions() -%}
    {{ return(adapter.dispatch("create_campaign_funnel_functions", "clearlist")()) }}
{%- endmacro %}

{% macro default__create_campaign_funnel_functions() -%}
{%- endmacro %}

{% macro duckdb__create_campaign_funnel_functions() -%}
create or replace macro {{ this.schema }}.campaign_funnel_at(p_as_of) as table
{{ campaign_funnel("(" ~ campaign_step_people("p_as_of") ~ ")") }};
create or replace macro {{ this.schema }}.segment_campaign_funnel_at(
    p_as_of, p_segment
) as table
{{ campaign_funnel("(" ~ campaign_step_people(
    "p_as_of",
    people_filter="select person_id from query_table(p_segment) where is_included",
) ~ ")") }};
{%- endmacro %}
