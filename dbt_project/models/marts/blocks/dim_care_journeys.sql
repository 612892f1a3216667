{#-
    One row per person with at least one visit: where they stand in their care
    journey at `as_of`. Only dates of care and appointment attendance are read, so
    the stage is 164.514(f)(1)(ii) data. The stage is the first rule that matches:
    1. new: the first visit was within the last 90 days.
    2. active: the last visit was within the last 365 days.
    3. at_risk: no visit for more than 730 days, or no visit for more than 365 days
       and a missed appointment (no-show) within the last 365 days.
    4. overdue: the last visit was 365 to 730 days ago, with no recent no-show.
    Visits are fct_visits (finished encounters without a security label); no-shows
    are `appointment_no_show` app events known at `as_of`.
-#}
with

visits as (

    select * from {{ ref('fct_visits') }}

),

app_events as (

    select * from {{ ref('fct_app_events') }}
    where
        event_type = 'appointment_no_show'
        and known_at <= {{ as_of() }}
        and occurred_at <= {{ as_of() }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

visit_summary as (

    select
        person_id,
        count(*) as visit_count,
        min(started_at) as first_visit_at,
        max(started_at) as last_visit_at
    from visits
    group by person_id

),

{# An app event names its person by MRN or by CRM contact id. -#}
no_shows as (

    select
        links.person_id,
        max(app_events.occurred_at) as last_no_show_at
    from app_events
    inner join links
        on
            (
                links.source_system = 'ehr'
                and app_events.mrn = links.mrn
            )
            or (
                links.source_system = 'crm'
                and app_events.crm_contact_id = links.source_record_id
            )
    group by links.person_id

),

days_since as (

    select
        visit_summary.person_id,
        visit_summary.visit_count,
        visit_summary.first_visit_at,
        visit_summary.last_visit_at,
        no_shows.last_no_show_at,
        {{ dbt.datediff("visit_summary.first_visit_at", as_of(), "day") }}
            as days_since_first_visit,
        {{ dbt.datediff("visit_summary.last_visit_at", as_of(), "day") }}
            as days_since_last_visit,
        coalesce(
            no_shows.last_no_show_at
            > {{ dbt.dateadd("day", -365, as_of()) }},
            false
        ) as has_recent_no_show
    from visit_summary
    left join no_shows
        on visit_summary.person_id = no_shows.person_id

),

final as (

    select
        ---------- ids
        person_id,

        ---------- attributes
        case
            when days_since_first_visit <= 90 then 'new'
            when days_since_last_visit <= 365 then 'active'
            when days_since_last_visit > 730 then 'at_risk'
            when has_recent_no_show then 'at_risk'
            else 'overdue'
        end as care_journey_stage,

        ---------- numerics
        visit_count,
        days_since_first_visit,
        days_since_last_visit,

        ---------- booleans
        has_recent_no_show,

        ---------- timestamps
        first_visit_at,
        last_visit_at,
        last_no_show_at,
        {{ as_of() }} as evaluated_as_of

    from days_since

)

select * from final
