{#-
    One row per EHR patient and per CRM contact, with the person it belongs to and how
    it was linked (RULES.md 1.5):
    1. An EHR patient is a person, keyed by its MRN (or its FHIR id without one).
    2. A CRM contact that carries an MRN joins that person ("mrn").
    3. A CRM contact without an MRN joins a patient only through a verified email that
       matches exactly one patient ("verified_email").
    4. Anything else stays a person of its own ("crm_only"), never linked by a fuzzy
       match: an unverified email or a shared name carries no consent across.
    Each record is read at its newest version; deleted CRM rows keep their link so
    that restrictions they carried still apply to the person.
-#}
with

patients as (

    select * from {{ ref('stg_ehr__patients') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

latest_patients as (

    select *
    from (
        select
            patients.*,
            row_number() over (
                partition by patients.patient_id
                order by patients.last_updated_at desc, patients.received_at desc
            ) as version_rank
        from patients
    ) as ranked
    where version_rank = 1

),

latest_contacts as (

    select *
    from (
        select
            contacts.*,
            row_number() over (
                partition by contacts.crm_contact_id
                order by contacts.last_modified_at desc, contacts.received_at desc
            ) as version_rank
        from contacts
    ) as ranked
    where version_rank = 1

),

ehr_people as (

    select
        'ehr' as source_system,
        patient_id as source_record_id,
        coalesce(
            {{ dbt.concat(["'mrn:'", "mrn"]) }},
            {{ dbt.concat(["'ehr:'", "patient_id"]) }}
        ) as identity_key,
        case when mrn is null then 'ehr_id' else 'mrn' end as match_method,
        mrn,
        email_norm
    from latest_patients

),

patient_emails as (

    select
        email_norm,
        min(identity_key) as identity_key,
        count(distinct identity_key) as n_people
    from ehr_people
    where email_norm is not null
    group by email_norm

),

crm_linked as (

    select
        'crm' as source_system,
        latest_contacts.crm_contact_id as source_record_id,
        case
            when latest_contacts.mrn is not null
                then {{ dbt.concat(["'mrn:'", "latest_contacts.mrn"]) }}
            when latest_contacts.is_email_verified and patient_emails.n_people = 1
                then patient_emails.identity_key
            else {{ dbt.concat(["'crm:'", "latest_contacts.crm_contact_id"]) }}
        end as identity_key,
        case
            when latest_contacts.mrn is not null then 'mrn'
            when latest_contacts.is_email_verified and patient_emails.n_people = 1
                then 'verified_email'
            else 'crm_only'
        end as match_method,
        latest_contacts.mrn,
        latest_contacts.email_norm
    from latest_contacts
    left join patient_emails
        on latest_contacts.email_norm = patient_emails.email_norm

),

unioned as (

    select * from ehr_people
    union all
    select * from crm_linked

),

final as (

    select
        {{ dbt.hash('identity_key') }} as person_id,
        source_system,
        source_record_id,
        match_method,
        mrn
    from unioned

)

select * from final
