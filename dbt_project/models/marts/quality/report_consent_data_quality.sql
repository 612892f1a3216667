{#-
    One row per data-quality check of the consent inputs, with how many records it
    found. Contradictory or incomplete consent records are not errors: the rules
    exclude the people they concern (the rule id says why), and this report counts
    them so that the data team can fix the source. Counts only, never values.
-#}
with

authorizations as (

    select * from {{ ref('fct_authorizations') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

privacy_requests as (

    select * from {{ ref('fct_privacy_requests') }}

),

quarantine as (

    select * from {{ ref('stg_ingest__quarantine') }}

),

authorization_checks as (

    select
        'authorization_without_expiry' as check_id,
        'R-AUTH-CORE' as rule_id,
        'Authorization versions with neither an expiry date nor an expiry event'
            as description,
        count(*) as records
    from authorizations
    where expires_at is null and expiration_event is null
    union all
    select
        'authorization_without_template' as check_id,
        'R-AUTH-CORE' as rule_id,
        'Authorization versions whose form template has not arrived' as description,
        count(*) as records
    from authorizations
    where not has_template
    union all
    select
        'authorization_signed_after_receipt' as check_id,
        'R-AUTH-FALSE' as rule_id,
        'Authorization versions dated after the organization received them'
            as description,
        count(*) as records
    from authorizations
    where signature_dated_at > known_at
    union all
    select
        'authorization_unverified_link' as check_id,
        'SEM-IDENTITY' as rule_id,
        'Authorization versions linked to a person by no verified identifier'
            as description,
        count(*) as records
    from authorizations
    where coalesce(match_method, '') not in ('mrn', 'verified_email')

),

other_checks as (

    select
        'email_event_newer_than_batch' as check_id,
        'SEM-FAIL-CLOSED' as rule_id,
        'Email events timed after their batch was received (counted from the batch)'
            as description,
        count(*) as records
    from email_events
    where occurred_at > known_at
    union all
    select
        'person_states_disagree' as check_id,
        'R-MINOR' as rule_id,
        'People whose EHR and CRM records name different states of residence'
            as description,
        count(*) as records
    from persons
    where ehr_state is not null and crm_state is not null and ehr_state != crm_state
    union all
    select
        'confidential_request_without_alternative' as check_id,
        'R-CONFCOMM' as rule_id,
        'Confidential-communication requests that give no alternative contact'
            as description,
        count(*) as records
    from privacy_requests
    where
        request_kind = 'confidential-communication'
        and alt_contact_value is null
    union all
    select
        'quarantined_records' as check_id,
        'SEM-FAIL-CLOSED' as rule_id,
        'Source records quarantined at ingestion for breaking the input contract'
            as description,
        count(*) as records
    from quarantine

),

final as (

    select * from authorization_checks
    union all
    select * from other_checks

)

select * from final
