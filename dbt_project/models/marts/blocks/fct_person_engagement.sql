{#-
    One row per person with any engagement known at `as_of`: how they responded to
    email, used the portal and forms, and kept appointments.
    1. Email opens count only human opens: machine opens (Apple Mail privacy
       prefetch and the like, `is_machine_open`) are never opens; clicks count
       apart. Windows: the last 90 days.
    2. Portal logins: the last 90 days. Forms: the last 365 days.
    3. Appointments attended and missed (no-shows): the last 365 days; these are
       dates of care (164.514(f)(1)(ii)), the rest is behaviour.
    Email events name their person by CRM contact id; app events by MRN or CRM
    contact id.
-#}
with

email_events as (

    select * from {{ ref('fct_email_events') }}
    where known_at <= {{ as_of() }} and occurred_at <= {{ as_of() }}

),

app_events as (

    select * from {{ ref('fct_app_events') }}
    where known_at <= {{ as_of() }} and occurred_at <= {{ as_of() }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

email_by_person as (

    select
        links.person_id,
        email_events.event_type,
        email_events.is_machine_open,
        email_events.occurred_at
    from email_events
    inner join links
        on
            links.source_system = 'crm'
            and email_events.crm_contact_id = links.source_record_id

),

app_by_person as (

    select
        links.person_id,
        app_events.event_type,
        app_events.occurred_at
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

),

email_summary as (

    select
        person_id,
        count(
            case
                when
                    event_type = 'open'
                    and not is_machine_open
                    and occurred_at > {{ dbt.dateadd("day", -90, as_of()) }}
                    then 1
            end
        ) as email_opens_90_days,
        count(
            case
                when
                    event_type = 'click'
                    and occurred_at > {{ dbt.dateadd("day", -90, as_of()) }}
                    then 1
            end
        ) as email_clicks_90_days,
        max(
            case when event_type = 'open' and not is_machine_open then occurred_at end
        ) as last_email_open_at,
        max(case when event_type = 'click' then occurred_at end) as last_email_click_at
    from email_by_person
    group by person_id

),

app_summary as (

    select
        person_id,
        count(
            case
                when
                    event_type = 'portal_login'
                    and occurred_at > {{ dbt.dateadd("day", -90, as_of()) }}
                    then 1
            end
        ) as portal_logins_90_days,
        count(
            case
                when
                    event_type = 'form_submitted'
                    and occurred_at > {{ dbt.dateadd("day", -365, as_of()) }}
                    then 1
            end
        ) as forms_submitted_365_days,
        count(
            case
                when
                    event_type = 'appointment_attended'
                    and occurred_at > {{ dbt.dateadd("day", -365, as_of()) }}
                    then 1
            end
        ) as appointments_attended_365_days,
        count(
            case
                when
                    event_type = 'appointment_no_show'
                    and occurred_at > {{ dbt.dateadd("day", -365, as_of()) }}
                    then 1
            end
        ) as appointment_no_shows_365_days,
        max(case when event_type = 'portal_login' then occurred_at end)
            as last_portal_login_at,
        max(case when event_type = 'form_submitted' then occurred_at end)
            as last_form_submitted_at,
        max(case when event_type = 'appointment_attended' then occurred_at end)
            as last_appointment_attended_at,
        max(case when event_type = 'appointment_no_show' then occurred_at end)
            as last_appointment_no_show_at
    from app_by_person
    group by person_id

),

people as (

    select person_id from email_summary
    union
    select person_id from app_summary

),

final as (

    select
        ---------- ids
        people.person_id,

        ---------- numerics
        coalesce(email_summary.email_opens_90_days, 0) as email_opens_90_days,
        coalesce(email_summary.email_clicks_90_days, 0) as email_clicks_90_days,
        coalesce(app_summary.portal_logins_90_days, 0) as portal_logins_90_days,
        coalesce(app_summary.forms_submitted_365_days, 0)
            as forms_submitted_365_days,
        coalesce(app_summary.appointments_attended_365_days, 0)
            as appointments_attended_365_days,
        coalesce(app_summary.appointment_no_shows_365_days, 0)
            as appointment_no_shows_365_days,

        ---------- timestamps
        email_summary.last_email_open_at,
        email_summary.last_email_click_at,
        app_summary.last_portal_login_at,
        app_summary.last_form_submitted_at,
        app_summary.last_appointment_attended_at,
        app_summary.last_appointment_no_show_at,
        {{ as_of() }} as evaluated_as_of

    from people
    left join email_summary
        on people.person_id = email_summary.person_id
    left join app_summary
        on people.person_id = app_summary.person_id

)

select * from final
