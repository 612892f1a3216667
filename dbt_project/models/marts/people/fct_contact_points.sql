{#-
    One row per person, kind of contact point (email, mobile, postal) and value, as
    each source system gave it, with when it was first and last known.
    1. EHR patients and CRM contacts reach a person through their link (how linked:
       `match_method`); a CRM email counts as verified only when the CRM says so.
    2. The alternative address of a confidential-communication request (164.522(b))
       is kept as a contact point of its own, flagged `is_confidential_alternative`.
    3. Values are normalized for matching: emails trimmed and lower-cased, phones
       to their last ten digits. Nothing here widens consent: eligibility decides
       which contact point a communication may use.
-#}
with

links as (

    select * from {{ ref('int_source_records_linked') }}

),

patients as (

    select * from {{ ref('stg_ehr__patients') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

privacy_requests as (

    select * from {{ ref('fct_privacy_requests') }}

),

ehr_points as (

    select
        links.person_id,
        links.match_method,
        'ehr' as source_system,
        patients.email_norm,
        {{ phone_key('patients.mobile_phone') }} as phone_key,
        patients.postal_code,
        false as is_email_verified,
        patients.known_at
    from patients
    inner join links
        on
            links.source_system = 'ehr'
            and patients.patient_id = links.source_record_id

),

crm_points as (

    select
        links.person_id,
        links.match_method,
        'crm' as source_system,
        contacts.email_norm,
        {{ phone_key('contacts.mobile_phone') }} as phone_key,
        contacts.postal_code,
        contacts.is_email_verified,
        contacts.known_at
    from contacts
    inner join links
        on
            links.source_system = 'crm'
            and contacts.crm_contact_id = links.source_record_id

),

source_points as (

    select * from ehr_points
    union all
    select * from crm_points

),

unpivoted as (

    select
        person_id,
        match_method,
        source_system,
        'email' as contact_kind,
        email_norm as contact_value,
        is_email_verified as is_verified,
        false as is_confidential_alternative,
        known_at
    from source_points
    where email_norm is not null
    union all
    select
        person_id,
        match_method,
        source_system,
        'mobile' as contact_kind,
        phone_key as contact_value,
        false as is_verified,
        false as is_confidential_alternative,
        known_at
    from source_points
    where phone_key is not null
    union all
    select
        person_id,
        match_method,
        source_system,
        'postal' as contact_kind,
        postal_code as contact_value,
        false as is_verified,
        false as is_confidential_alternative,
        known_at
    from source_points
    where postal_code is not null
    union all
    select
        person_id,
        'mrn' as match_method,
        'ehr' as source_system,
        case alt_contact_system
            when 'email' then 'email'
            when 'address' then 'postal'
            else 'mobile'
        end as contact_kind,
        case
            when alt_contact_system = 'email'
                then {{ normalize_email('alt_contact_value') }}
            when alt_contact_system in ('sms', 'phone')
                then {{ phone_key('alt_contact_value') }}
            else alt_contact_value
        end as contact_value,
        true as is_verified,
        true as is_confidential_alternative,
        known_at
    from privacy_requests
    where
        request_kind = 'confidential-communication'
        and alt_contact_value is not null
        and person_id is not null

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "person_id", "'|'", "contact_kind", "'|'", "contact_value", "'|'",
            "source_system", "'|'",
            "cast(is_confidential_alternative as " ~ dbt.type_string() ~ ")",
        ])) }} as contact_point_id,
        person_id,
        contact_kind,
        contact_value,
        source_system,
        min(match_method) as match_method,
        max(case when is_verified then 1 else 0 end) = 1 as is_verified,
        is_confidential_alternative,
        min(known_at) as first_known_at,
        max(known_at) as last_known_at
    from unpivoted
    group by
        person_id,
        contact_kind,
        contact_value,
        source_system,
        is_confidential_alternative

)

select * from final
