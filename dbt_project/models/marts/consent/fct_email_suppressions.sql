{#-
    One row per email opt-out the organization received (R-EMAIL-OPTOUT,
    15 U.S.C. 7704(a)(3)-(4)), from every source that can carry one:
    1. Salesforce channel consent rows: an Email OptOut for any purpose but
       FUNDRAISING (which is the 164.514(f) opt-out), scoped to its list when it has
       one. It counts from the earliest time the row gives for it.
    2. The Salesforce contact's HasOptedOutOfEmail flag: all commercial email, from
       the first version that carried it.
    3. SendGrid unsubscribe and spam reports (all commercial email) and group
       unsubscribes (that unsubscribe group only).
    Opt-ins never remove a row here; lifting a list opt-out is not modelled yet, so the
    opt-out keeps excluding (fail closed).
-#}
with

channel_consents as (

    select * from {{ ref('stg_crm__contact_point_consents') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

email_events as (

    select * from {{ ref('stg_engagement__email_events') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

crm_links as (

    select * from links
    where source_system = 'crm'

),

contact_emails as (

    select
        crm_contact_id,
        max(email_norm) as email_norm
    from contacts
    group by crm_contact_id

),

from_channel_consents as (

    select
        crm_links.person_id,
        coalesce(
            {{ normalize_email('channel_consents.contact_point_value') }},
            contact_emails.email_norm
        ) as email_norm,
        channel_consents.list_id,
        'crm_channel_consent' as suppression_source,
        case
            when
                channel_consents.capture_at is not null
                and channel_consents.capture_at < channel_consents.known_at
                then channel_consents.capture_at
            else channel_consents.known_at
        end as suppressed_at
    from channel_consents
    left join crm_links
        on channel_consents.crm_contact_id = crm_links.source_record_id
    left join contact_emails
        on channel_consents.crm_contact_id = contact_emails.crm_contact_id
    where
        channel_consents.contact_point_type = 'email'
        and channel_consents.consent_status = 'optout'
        and channel_consents.purpose_code != 'FUNDRAISING'

),

from_contact_flags as (

    select
        crm_links.person_id,
        contacts.email_norm,
        cast(null as {{ dbt.type_string() }}) as list_id,
        'crm_contact_flag' as suppression_source,
        min(contacts.known_at) as suppressed_at
    from contacts
    left join crm_links
        on contacts.crm_contact_id = crm_links.source_record_id
    where contacts.has_opted_out_of_email
    group by crm_links.person_id, contacts.email_norm

),

from_email_events as (

    select
        crm_links.person_id,
        email_events.email_norm,
        case
            when email_events.event_type = 'group_unsubscribe'
                then email_events.list_id
        end as list_id,
        {{ dbt.concat(["'esp_'", "email_events.event_type"]) }} as suppression_source,
        email_events.known_at as suppressed_at
    from email_events
    left join crm_links
        on email_events.crm_contact_id = crm_links.source_record_id
    where
        email_events.event_type in ('unsubscribe', 'group_unsubscribe', 'spamreport')

),

unioned as (

    select * from from_channel_consents
    union all
    select * from from_contact_flags
    union all
    select * from from_email_events

),

final as (

    select distinct
        {{ dbt.hash(dbt.concat([
            "coalesce(person_id, '')",
            "'|'",
            "coalesce(email_norm, '')",
            "'|'",
            "coalesce(list_id, '*')",
            "'|'",
            "suppression_source",
            "'|'",
            dbt.cast("suppressed_at", dbt.type_string()),
        ])) }} as email_suppression_id,
        person_id,
        email_norm,
        list_id,
        list_id is null as is_all_commercial,
        suppression_source,
        suppressed_at
    from unioned

)

select * from final
