{#-
    One row per version of a signed-or-not authorization (45 CFR 164.508), with its
    form template's statements and the person it belongs to. A version holds from the
    instant it was known until the next version was known; eligibility picks the one
    in force at its instant. Templates are timeless: each version reads the newest
    revision of its template that has arrived.
-#}
with

authorizations as (

    select * from {{ ref('stg_crm__authorization_form_consents') }}

),

form_texts as (

    select * from {{ ref('stg_crm__authorization_form_texts') }}

),

links as (

    select * from {{ ref('int_source_records_linked') }}

),

latest_form_texts as (

    select *
    from (
        select
            form_texts.*,
            row_number() over (
                partition by form_texts.authorization_form_text_id
                order by form_texts.last_modified_at desc
            ) as version_rank
        from form_texts
    ) as ranked
    where version_rank = 1 and not is_deleted

),

versioned as (

    select
        authorizations.*,
        lead(authorizations.known_at) over (
            partition by authorizations.authorization_id
            order by
                authorizations.last_modified_at,
                authorizations.received_at
        ) as superseded_at
    from authorizations

),

final as (

    select
        ---------- ids
        versioned.authorization_id,
        links.person_id,
        versioned.crm_contact_id,
        links.match_method,
        versioned.authorization_form_text_id,
        versioned.signer_related_person_id,

        ---------- attributes
        versioned.status,
        versioned.purposes,
        versioned.info_scope,
        versioned.disclosers,
        versioned.recipients,
        versioned.employer_recipients,
        versioned.channels,
        versioned.signer_role,
        versioned.signer_name,
        versioned.signer_authority,
        versioned.signature_method,
        versioned.esign_evidence_id,
        versioned.expiration_event,
        versioned.bound_email_norm,
        {{ phone_key('versioned.bound_phone') }} as bound_phone_key,
        latest_form_texts.regulations,

        ---------- booleans
        latest_form_texts.authorization_form_text_id is not null as has_template,
        coalesce(latest_form_texts.has_revocation_statement, false)
            as has_revocation_statement,
        coalesce(latest_form_texts.has_conditioning_statement, false)
            as has_conditioning_statement,
        coalesce(latest_form_texts.has_redisclosure_statement, false)
            as has_redisclosure_statement,
        coalesce(latest_form_texts.has_not_condition_of_purchase, false)
            as has_not_condition_of_purchase,
        coalesce(latest_form_texts.is_compound, false) as is_compound,
        coalesce(latest_form_texts.is_conditioned_on_treatment, false)
            as is_conditioned_on_treatment,
        versioned.is_remuneration_disclosed,
        versioned.is_deleted,

        ---------- timestamps
        versioned.signed_at,
        versioned.signature_dated_at,
        versioned.expires_at,
        versioned.expiry_event_occurred_at,
        versioned.revoked_at,
        versioned.known_at,
        versioned.superseded_at,
        versioned.received_at,
        versioned.batch_id

    from versioned
    left join links
        on
            links.source_system = 'crm'
            and versioned.crm_contact_id = links.source_record_id
    left join latest_form_texts
        on
            versioned.authorization_form_text_id
            = latest_form_texts.authorization_form_text_id

)

select * from final
