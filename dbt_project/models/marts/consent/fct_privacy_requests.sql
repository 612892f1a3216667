{#-
    One row per version of a privacy request the privacy office recorded as a FHIR
    Consent: agreed restrictions (45 CFR 164.522(a)) and confidential-communication
    requests (164.522(b)). A version holds from when it was known until the next
    version of the same Consent; an inactive version ends the request.
-#}
with

consents as (

    select * from {{ ref('stg_ehr__consents') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

versioned as (

    select
        consents.*,
        lead(consents.known_at) over (
            partition by consents.consent_id
            order by consents.known_at, consents.received_at
        ) as superseded_at
    from consents
    where consents.consent_kind in ('restriction', 'confidential-communication')

),

final as (

    select
        ---------- ids
        versioned.consent_id,
        links.person_id,

        ---------- attributes
        versioned.consent_kind as request_kind,
        versioned.status,
        versioned.provision_type,
        versioned.purposes,
        versioned.channels,
        versioned.recipients,
        versioned.service_codes,
        versioned.alt_contact_system,
        versioned.alt_contact_value,

        ---------- timestamps
        versioned.period_start_at,
        versioned.period_end_at,
        versioned.known_at,
        versioned.superseded_at

    from versioned
    left join links
        on
            links.source_system = 'ehr'
            and versioned.patient_id = links.source_record_id

)

select * from final
