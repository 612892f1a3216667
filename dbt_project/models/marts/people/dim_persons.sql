{#-
    One row per person, merged across linked EHR and CRM records with the most
    restrictive reading winning (RULES.md 1.5):
    1. Deceased if any linked record says so, from the earliest time one did.
    2. Birth date: the latest one on file (the youngest reading excludes more minors).
    3. Both states of residence are kept; eligibility applies the higher majority age.
    4. Identity is verified when some record is anchored by an MRN, an EHR id or a
       verified email; a CRM-only contact is not.
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

patient_versions as (

    select
        links.person_id,
        patients.patient_id,
        patients.given_name,
        patients.family_name,
        patients.gender,
        patients.birth_date,
        patients.residence_state,
        patients.postal_code,
        patients.email_norm,
        patients.mobile_phone,
        patients.is_deceased,
        patients.deceased_at,
        patients.known_at,
        row_number() over (
            partition by patients.patient_id
            order by patients.last_updated_at desc, patients.received_at desc
        ) as version_rank
    from patients
    inner join links
        on
            links.source_system = 'ehr'
            and patients.patient_id = links.source_record_id

),

contact_versions as (

    select
        links.person_id,
        links.match_method,
        contacts.crm_contact_id,
        contacts.first_name,
        contacts.last_name,
        contacts.birth_date,
        contacts.residence_state,
        contacts.postal_code,
        contacts.email_norm,
        contacts.is_email_verified,
        contacts.mobile_phone,
        contacts.known_at,
        row_number() over (
            partition by contacts.crm_contact_id
            order by contacts.last_modified_at desc, contacts.received_at desc
        ) as version_rank
    from contacts
    inner join links
        on
            links.source_system = 'crm'
            and contacts.crm_contact_id = links.source_record_id

),

patient_facts as (

    select
        person_id,
        max(case when version_rank = 1 then given_name end) as given_name,
        max(case when version_rank = 1 then family_name end) as family_name,
        max(case when version_rank = 1 then gender end) as gender,
        max(birth_date) as birth_date,
        max(case when version_rank = 1 then residence_state end) as ehr_state,
        max(case when version_rank = 1 then postal_code end) as ehr_postal_code,
        max(case when version_rank = 1 then email_norm end) as ehr_email,
        max(case when version_rank = 1 then mobile_phone end) as ehr_mobile_phone,
        min(
            case
                when is_deceased
                    then coalesce(
                        case when deceased_at < known_at then deceased_at end,
                        known_at
                    )
            end
        ) as deceased_known_at
    from patient_versions
    group by person_id

),

contact_facts as (

    select
        person_id,
        max(case when version_rank = 1 then first_name end) as first_name,
        max(case when version_rank = 1 then last_name end) as last_name,
        max(birth_date) as birth_date,
        max(case when version_rank = 1 then residence_state end) as crm_state,
        max(
            case
                when version_rank = 1 and is_email_verified then email_norm
            end
        ) as crm_verified_email,
        max(case when version_rank = 1 then email_norm end) as crm_email,
        max(case when version_rank = 1 then mobile_phone end) as crm_mobile_phone
    from contact_versions
    group by person_id

),

people as (

    select
        person_id,
        max(case when match_method != 'crm_only' then 1 else 0 end) = 1
            as is_identity_verified,
        max(case when source_system = 'ehr' then 1 else 0 end) = 1 as has_ehr_record,
        max(case when source_system = 'crm' then 1 else 0 end) = 1 as has_crm_record
    from links
    group by person_id

),

final as (

    select
        ---------- ids
        people.person_id,

        ---------- attributes
        coalesce(contact_facts.first_name, patient_facts.given_name) as first_name,
        coalesce(contact_facts.last_name, patient_facts.family_name) as last_name,
        patient_facts.gender,
        case
            when patient_facts.birth_date is null then contact_facts.birth_date
            when contact_facts.birth_date is null then patient_facts.birth_date
            when patient_facts.birth_date > contact_facts.birth_date
                then patient_facts.birth_date
            else contact_facts.birth_date
        end as birth_date,
        patient_facts.ehr_state,
        contact_facts.crm_state,
        coalesce(patient_facts.ehr_state, contact_facts.crm_state) as residence_state,
        patient_facts.ehr_postal_code as postal_code,
        coalesce(
            patient_facts.ehr_email,
            contact_facts.crm_verified_email,
            contact_facts.crm_email
        ) as email_norm,
        coalesce(patient_facts.ehr_mobile_phone, contact_facts.crm_mobile_phone)
            as mobile_phone,

        ---------- booleans
        people.is_identity_verified,
        people.has_ehr_record,
        people.has_crm_record,

        ---------- timestamps
        patient_facts.deceased_known_at

    from people
    left join patient_facts
        on people.person_id = patient_facts.person_id
    left join contact_facts
        on people.person_id = contact_facts.person_id

)

select * from final
