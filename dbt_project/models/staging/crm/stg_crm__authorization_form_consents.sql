with

source as (

    select * from {{ source('crm', 'crm_authorization_form_consents') }}

),

renamed as (

    select
        ---------- ids
        authorization_form_consent_id as authorization_id,
        consent_giver_id as crm_contact_id,
        authorization_form_text_id,
        signer_related_person_id,

        ---------- attributes
        lower(status) as status,
        {{ normalize_list('purposes') }} as purposes,
        {{ normalize_list('info_scope') }} as info_scope,
        {{ normalize_list('disclosers') }} as disclosers,
        {{ normalize_list('recipients') }} as recipients,
        {{ normalize_list('employer_recipients') }} as employer_recipients,
        {{ normalize_list('channels') }} as channels,
        lower(signer_role) as signer_role,
        signer_name,
        signer_authority,
        lower(signature_method) as signature_method,
        esign_evidence_id,
        expiration_event,
        lower(revocation_channel) as revocation_channel,
        {{ normalize_email('bound_email') }} as bound_email_norm,
        bound_phone,

        ---------- booleans
        coalesce(remuneration_disclosed, false) as is_remuneration_disclosed,
        coalesce(revocation_written, false) as is_revocation_written,
        coalesce(is_deleted, false) as is_deleted,

        ---------- timestamps (RULES.md 1.4 applied to bare dates)
        {{ date_only_start('consent_captured_at', 'consent_captured_is_date_only') }}
            as signed_at,
        {{ date_only_end('consent_captured_at', 'consent_captured_is_date_only') }}
            as signature_dated_at,
        {{ date_only_end('expiration_at', 'expiration_is_date_only') }}
            as expires_at,
        {{ date_only_end(
            'expiration_event_occurred_at',
            'expiration_event_occurred_is_date_only'
        ) }} as expiry_event_occurred_at,
        {{ date_only_end('revoked_at', 'revoked_is_date_only') }} as revoked_at,
        last_modified_at,
        {{ known_at() }} as known_at,
        _received_at as received_at,
        _batch_id as batch_id

    from source

)

select * from renamed
