{#-
    The consent rules of RULES.md as one function of an instant: a select that gives,
    for every person, whether a communication of this purpose, channel, marketing
    topic and email list, sent to `recipient`, may reach them at the `as_of` instant,
    and the ids of every rule that fired. Eligibility models and segments call it;
    nothing else decides who may be contacted.

    Steps, each named by its rule id (citations in seeds/rule_registry.csv):
    1. An unknown purpose is treated as MARKETING (RULES.md 1.6).
    2. Facts count only once received at or before the instant (RULES.md 1.3):
       authorization versions in force, revocations by when they were received.
    3. A purpose that needs authorization (MARKETING, sale) needs one valid
       authorization covering purpose and topic, channel, recipient and the PHI used
       (R-MKT-AUTH); defects of authorizations that would otherwise cover it fire
       their own rule (R-AUTH-CORE, -STMT, -EXP, -REV, -FALSE, -COMPOUND, -COND,
       -SIGNER, -E-SIGN, R-RECIP). An authorization counts only through a verified
       link (MRN or verified email; RULES.md 1.5).
    4. Blocking rules on the person: deceased (R-DECEASED), under the majority age of
       any state on file for adults-only purposes (R-MINOR), agreed restrictions
       (R-RESTRICT), confidential-communication requests (R-CONFCOMM).
    5. Channel opt-outs: commercial email (R-EMAIL-OPTOUT), texts (R-SMS-STOP),
       fundraising on every channel (R-FUND-OPTOUT). An opt-out of any address or
       number on any record linked to the person counts (RULES.md 1.5).
    6. Fail closed: no verified identity (SEM-IDENTITY) or no contact point for the
       channel (SEM-NO-CONTACT) excludes.
    7. A refill reminder (REFILL) needs no authorization only for people the drug
       `refill_drug` (RxNorm codes) is currently prescribed to; anyone else, or
       everyone when no drug is declared, is excluded (R-MKT-EXC-REFILL). Paid for
       by a third party beyond the cost of sending it, it is marketing.

    Purpose and channel shape the SQL; topic, list, recipient, the refill drugs and
    the instant are values. With `parameters=true` they are the parameters
    `p_marketing_topic`, `p_list_id`, `p_recipient`, `p_as_of` and
    `p_refill_drugs` (';'-joined RxNorm codes) of a table macro (see
    create_eligibility_functions), so the same logic answers for any instant
    without a rebuild.
-#}
{% macro eligibility(
    purpose_code,
    channel,
    marketing_topic=none,
    list_id=none,
    recipient="CoveredEntity",
    info_scope=["demographics", "contact"],
    third_party_remuneration=false,
    remuneration_for_phi=false,
    refill_drug=none,
    remuneration_cost_only=false,
    parameters=false
) -%}
{%- set declared_purpose_code = purpose_code | upper -%}
{#- R-MKT-EXC-TX: treatment, care coordination and own-service messages paid for by
    a third party are marketing. -#}
{%- set is_tx_reclassified = third_party_remuneration and declared_purpose_code in [
    "TREATMENT", "CARE_COORD", "OWN_HEALTH_SERVICE"
] -%}
{#- R-MKT-EXC-REFILL (45 CFR 164.501 "marketing"(2)(i)): a refill reminder stays out
    of marketing only while any third-party payment covers no more than the cost of
    making the communication (HHS Marketing/Refill FAQ). -#}
{%- set is_refill = declared_purpose_code == "REFILL" -%}
{%- set is_refill_reclassified = (
    is_refill and third_party_remuneration and not remuneration_cost_only
) -%}
{%- set is_reclassified = is_tx_reclassified or is_refill_reclassified -%}
{%- set checks_prescription = is_refill and not is_refill_reclassified -%}
{%- set purpose = "MARKETING" if is_reclassified else declared_purpose_code -%}
{%- set has_remuneration = third_party_remuneration or remuneration_for_phi -%}
{%- set channel = channel | lower -%}
{%- set needs_pewc = channel == "sms" and purpose in [
    "MARKETING", "FUNDRAISING", "DISCLOSURE_FOR_REMUNERATION"
] -%}
{%- set service = {
    "email": "email_sending", "sms": "sms_sending",
    "phone": "phone_calling", "mail": "mail_sending",
}[channel] -%}
{%- if parameters -%}
    {%- set as_of = "p_as_of" -%}
    {%- set topic_sql = "p_marketing_topic" -%}
    {%- set list_sql = "p_list_id" -%}
    {%- set recipient_sql = "p_recipient" -%}
    {%- set refill_drugs_sql = "p_refill_drugs" -%}
{%- else -%}
    {%- set as_of = clearlist.as_of() -%}
    {%- set topic_sql = clearlist.sql_string(marketing_topic) -%}
    {%- set list_sql = clearlist.sql_string(list_id) -%}
    {%- set recipient_sql = clearlist.sql_string(recipient) -%}
    {%- set refill_drugs_sql = clearlist.sql_string(
        clearlist.refill_drug_list(refill_drug)
    ) -%}
{%- endif -%}
{%- if not parameters %}({% endif %}
    with

    purposes as (

        select * from {{ clearlist.ledger_ref('purpose_codes', parameters) }}

    ),

    majority_ages as (

        select * from {{ clearlist.ledger_ref('majority_ages', parameters) }}

    ),

    persons as (

        select * from {{ clearlist.ledger_ref('dim_persons', parameters) }}

    ),

    authorizations as (

        select * from {{ clearlist.ledger_ref('fct_authorizations', parameters) }}

    ),

    email_suppressions as (

        select * from {{ clearlist.ledger_ref('fct_email_suppressions', parameters) }}

    ),

    sms_revocations as (

        select * from {{ clearlist.ledger_ref('fct_sms_revocations', parameters) }}

    ),

    fundraising_optouts as (

        select * from {{ clearlist.ledger_ref('fct_fundraising_optouts', parameters) }}

    ),

    privacy_requests as (

        select * from {{ clearlist.ledger_ref('fct_privacy_requests', parameters) }}

    ),

    recipient_register as (

        select * from {{ clearlist.ledger_ref('recipient_register', parameters) }}

    ),

    data_categories as (

        select * from {{ clearlist.ledger_ref('data_categories', parameters) }}

    ),

    representatives as (

        select * from {{ clearlist.ledger_ref('fct_personal_representatives', parameters) }}

    ),

    sensitive_flags as (

        select * from {{ clearlist.ledger_ref('fct_sensitive_flags', parameters) }}

    ),
    {%- if channel in ["email", "sms"] %}

    contact_points as (

        select * from {{ clearlist.ledger_ref('fct_contact_points', parameters) }}

    ),
    {%- endif %}
    {%- if checks_prescription %}

    medication_requests as (

        select * from {{ clearlist.ledger_ref('fct_medication_requests', parameters) }}

    ),

    {#- R-MKT-EXC-REFILL: the drug is currently prescribed when a version of one of
        its medication requests in force at the instant is active or completed and
        its validity period is open or ended at most 90 days before (HHS
        Marketing/Refill FAQ; INPUTS.md). Stopped, cancelled and entered-in-error
        requests never count. -#}
    prescribed_people as (

        select distinct person_id
        from medication_requests
        where
            person_id is not null
            and known_at <= {{ as_of }}
            and (superseded_at is null or superseded_at > {{ as_of }})
            and medication_request_status in ('active', 'completed')
            and (
                validity_end_at is null
                or validity_end_at >= {{ dbt.dateadd("day", -90, as_of) }}
            )
            and {{ list_has_value(refill_drugs_sql, 'rxnorm_code') }}

    ),
    {%- endif %}

    {#- R-BAA, R-RECIP: the recipient's kind at the instant. A business associate
        counts as the covered entity's own use only while a BAA that covers this
        channel's service is in force; an unregistered recipient is a third party. -#}
    recipient_kind as (

        select
            max(
                case
                    when recipient_register.recipient_kind = 'covered_entity' then 1
                    when
                        recipient_register.recipient_kind = 'business_associate'
                        and cast(
                            recipient_register.baa_start_date as {{ dbt.type_timestamp() }}
                        ) <= {{ as_of }}
                        and {{ dbt.dateadd(
                            "day", 1,
                            "cast(recipient_register.baa_end_date as "
                            ~ dbt.type_timestamp() ~ ")"
                        ) }} > {{ as_of }}
                        and {{ list_has_value(
                            clearlist.normalize_list('recipient_register.baa_services'),
                            "'" ~ service ~ "'"
                        ) }}
                        then 1
                    else 0
                end
            ) = 1 as is_own_use,
            max(
                case
                    when recipient_register.recipient_kind = 'business_associate'
                        then 1
                    else 0
                end
            ) = 1 as is_business_associate,
            max(
                case
                    when
                        recipient_register.recipient_kind in (
                            'covered_entity', 'business_associate', 'affiliated_foundation'
                        )
                        then 1
                    else 0
                end
            ) = 1 as may_raise_funds,
            max(
                case when recipient_register.recipient_kind = 'health_plan' then 1 else 0 end
            ) = 1 as is_health_plan
        from (select 1 as anchor) as asked
        left join recipient_register
            on lower(recipient_register.recipient) = lower({{ recipient_sql }})

    ),

    {#- R-SENS, R-PSYNOTES, R-FUND-DATA: the data categories the communication uses
        in its criteria or export, judged from the data_categories seed; a category
        the seed does not know counts against the communication (fail closed). -#}
    category_checks as (

        select
            coalesce(max(case when data_categories.is_sensitive then 1 else 0 end), 0)
            = 1 as uses_sensitive,
            coalesce(
                max(case when data_categories.is_psychotherapy_notes then 1 else 0 end),
                0
            ) = 1 as uses_psychotherapy_notes,
            coalesce(
                max(case when not data_categories.is_fundraising_data then 1 else 0 end),
                0
            ) = 1 as uses_non_fundraising_data,
            coalesce(
                max(
                    case
                        when used.category not in ('demographics', 'contact') then 1
                        else 0
                    end
                ),
                0
            ) = 1 as uses_health_data,
            count(*) > count(data_categories.category) as uses_unknown_category
        from (
            {%- for category in info_scope %}
            select '{{ category | lower }}' as category
            {%- if not loop.last %} union all{% endif %}
            {%- endfor %}
        ) as used
        left join data_categories
            on used.category = data_categories.category

    ),

    person_contact as (

        select
            persons.*,
            {%- if channel == 'email' %}
            persons.email_norm as default_contact,
            {%- elif channel == 'sms' or channel == 'phone' %}
            persons.mobile_phone as default_contact,
            {%- else %}
            persons.postal_code as default_contact,
            {%- endif %}
            {{ phone_key('persons.mobile_phone') }} as phone_key,
            greatest(
                coalesce(ehr_majority.majority_age, 18),
                coalesce(crm_majority.majority_age, 18)
            ) as majority_age
        from persons
        left join majority_ages as ehr_majority
            on persons.ehr_state = ehr_majority.state
        left join majority_ages as crm_majority
            on persons.crm_state = crm_majority.state

    ),

    declared_purpose as (

        select
            coalesce(max(purpose_code), 'MARKETING') as purpose_code,
            coalesce(max(case when needs_authorization then 1 else 0 end), 1) = 1
                as needs_authorization,
            coalesce(max(case when is_commercial_email then 1 else 0 end), 1) = 1
                as is_commercial_email,
            coalesce(
                max(case when is_outreach_to_adults_only then 1 else 0 end), 1
            ) = 1 as is_adults_only
        from purposes
        where purpose_code = '{{ purpose }}'

    ),

    {#- 2. The version of each authorization in force at the instant. -#}
    authorizations_in_force as (

        select *
        from authorizations
        where
            known_at <= {{ as_of }}
            and (superseded_at is null or superseded_at > {{ as_of }})

    ),

    {#- A revocation counts from when it was received, even if its file arrived later;
        it voids its own authorization and every earlier-signed authorization of the
        same person with an overlapping purpose (RULES.md 1.7). -#}
    revocations as (

        select
            authorization_id,
            person_id,
            purposes,
            min(coalesce(revoked_at, known_at)) as revoked_at
        from authorizations
        where
            (revoked_at is not null or status = 'revoked')
            and coalesce(revoked_at, known_at) <= {{ as_of }}
        group by authorization_id, person_id, purposes

    ),

    revoked_authorizations as (

        select distinct authorization_id from revocations

    ),

    {#- Purposes overlap when their codes match and neither names a topic the
        other does not: a bare MARKETING overlaps every MARKETING:<topic>, and
        MARKETING:a overlaps only MARKETING:a (INPUTS.md). An authorization with the
        bare purpose is voided by any revocation of that purpose, topic or not; one
        narrowed to this communication's topic by a bare or same-topic revocation. -#}
    person_revocations as (

        select
            person_id,
            max(revoked_at) as last_revoked_any_topic_at,
            max(
                case
                    when
                        {{ list_has('purposes', purpose) }}
                        or coalesce({{ list_has_value(
                            'purposes', dbt.concat(["'" ~ purpose ~ ":'", topic_sql])
                        ) }}, false)
                        then revoked_at
                end
            ) as last_revoked_this_topic_at
        from revocations
        where
            {{ list_has('purposes', purpose) }}
            or purposes like '%;{{ purpose }}:%'
        group by person_id

    ),

    {#- Requests in force at the instant (164.522). -#}
    requests_in_force as (

        select *
        from privacy_requests
        where
            status = 'active'
            and known_at <= {{ as_of }}
            and (superseded_at is null or superseded_at > {{ as_of }})
            and (period_start_at is null or period_start_at <= {{ as_of }})
            and (period_end_at is null or period_end_at > {{ as_of }})

    ),

    {#- R-SUD-P2, R-RESTRICT: sensitive facts known at the instant. Health data
        from a Part 2 program needs a Part 2 consent for the purpose (a TPO consent
        covers treatment and care coordination); self-paid care never reaches a
        health plan (164.522(a)(1)(vi)). -#}
    flagged_people as (

        select
            person_id,
            max(case when category = 'sud_part2' then 1 else 0 end) = 1 as has_part2,
            max(case when category = 'self_pay' then 1 else 0 end) = 1 as has_self_pay
        from sensitive_flags
        where first_known_at <= {{ as_of }}
        group by person_id

    ),

    part2_consents as (

        select distinct person_id
        from requests_in_force
        where
            request_kind = 'part2-consent'
            and provision_type = 'permit'
            and (
                {{ list_has('purposes', purpose) }}
                {%- if purpose in ["TREATMENT", "CARE_COORD"] %}
                or {{ list_has('purposes', 'TPO') }}
                {%- endif %}
            )
            and (recipients = ';' or {{ list_has_value('recipients', recipient_sql) }})

    ),

    restrictions as (

        select distinct person_id
        from requests_in_force
        where
            request_kind = 'restriction'
            and provision_type = 'deny'
            and (purposes = ';' or {{ list_has('purposes', purpose) }})
            and (recipients = ';' or {{ list_has_value('recipients', recipient_sql) }})

    ),

    confidential_requests as (

        select
            person_id,
            max(
                case when {{ list_has('channels', channel) }} then 1 else 0 end
            ) = 1 as allows_channel,
            max(
                case
                    {%- if channel == 'email' %}
                    when alt_contact_system = 'email'
                        then {{ normalize_email('alt_contact_value') }}
                    {%- elif channel == 'sms' or channel == 'phone' %}
                    when alt_contact_system in ('sms', 'phone')
                        then alt_contact_value
                    {%- else %}
                    when alt_contact_system = 'address' then alt_contact_value
                    {%- endif %}
                end
            ) as alt_contact
        from requests_in_force
        where request_kind = 'confidential-communication'
        group by person_id

    ),

    {#- R-AUTH-SIGNER: a representative signs with authority only as a personal
        representative of the subject on file in the same role, whose period covers
        the signature, as known at the instant (164.502(g)). -#}
    representatives_in_force as (

        select *
        from representatives
        where
            known_at <= {{ as_of }}
            and (superseded_at is null or superseded_at > {{ as_of }})
            and representative_role is not null

    ),

    authorization_checks as (

        select
            authorizations_in_force.person_id,
            authorizations_in_force.authorization_id,

            {#- coverage of this communication (R-MKT-AUTH, R-RECIP) -#}
            (
                {{ list_has('authorizations_in_force.purposes', purpose) }}
                {%- if parameters or marketing_topic %}
                or coalesce({{ list_has_value(
                    'authorizations_in_force.purposes',
                    dbt.concat(["'" ~ purpose ~ ":'", topic_sql])
                ) }}, false)
                {%- endif %}
            ) as covers_purpose,
            {{ list_has('authorizations_in_force.channels', channel) }}
                as covers_channel,
            (
                {{ list_has_value('authorizations_in_force.recipients', recipient_sql) }}
                or {{ list_has_value(
                    'authorizations_in_force.employer_recipients', recipient_sql
                ) }}
                or (
                    recipient_kind.is_own_use
                    and {{ list_has('authorizations_in_force.recipients', 'CoveredEntity') }}
                )
            ) as covers_recipient,
            (
                1 = 1
                {%- for category in info_scope %}
                and (
                    {{ list_has('authorizations_in_force.info_scope', 'all') }}
                    or {{ list_has('authorizations_in_force.info_scope', category) }}
                )
                {%- endfor %}
            ) as covers_info_scope,
            authorizations_in_force.match_method in ('mrn', 'verified_email')
                as is_verified_link,

            {#- defects (164.508(b)(2), (c)) -#}
            (
                authorizations_in_force.is_deleted
                or coalesce(authorizations_in_force.status, '')
                not in ('signed', 'revoked')
                or authorizations_in_force.signed_at is null
                or authorizations_in_force.signed_at > {{ as_of }}
                or not authorizations_in_force.has_template
                or authorizations_in_force.purposes = ';'
                or authorizations_in_force.recipients = ';'
                or authorizations_in_force.disclosers = ';'
                or authorizations_in_force.info_scope = ';'
                or authorizations_in_force.signer_role is null
                or (
                    authorizations_in_force.expires_at is null
                    and authorizations_in_force.expiration_event is null
                )
            ) as has_core_defect,
            (
                authorizations_in_force.has_template
                and not (
                    authorizations_in_force.has_revocation_statement
                    and authorizations_in_force.has_conditioning_statement
                    and authorizations_in_force.has_redisclosure_statement
                )
            ) as has_statement_defect,
            (
                authorizations_in_force.has_template
                and not {{ list_has('authorizations_in_force.regulations', 'HIPAA-164.508') }}
            ) as is_not_hipaa_form,
            (
                coalesce(authorizations_in_force.expires_at <= {{ as_of }}, false)
                or coalesce(
                    authorizations_in_force.expiry_event_occurred_at <= {{ as_of }},
                    false
                )
            ) as is_expired,
            coalesce(
                authorizations_in_force.signature_dated_at
                > authorizations_in_force.known_at,
                false
            ) as is_signed_after_receipt,
            {#- R-AUTH-FALSE, identity (policy): a form signed by the subject whose
                signer is a related person on file, or whose signer name does not
                read as the subject's first and last name (a middle name may sit
                between them), is known to be false. A missing name proves nothing
                either way; the authorization carries no date of birth or subject
                name of its own to compare. -#}
            {%- set signer_key = person_name_key(
                'authorizations_in_force.signer_name'
            ) %}
            {%- set first_key = person_name_key('person_contact.first_name') %}
            {%- set last_key = person_name_key('person_contact.last_name') %}
            (
                coalesce(authorizations_in_force.signer_role, '') = 'self'
                and (
                    authorizations_in_force.signer_related_person_id is not null
                    or (
                        {{ signer_key }} is not null
                        and {{ first_key }} is not null
                        and {{ last_key }} is not null
                        and {{ signer_key }}
                        != {{ dbt.concat([first_key, "' '", last_key]) }}
                        and {{ signer_key }}
                        not like {{ dbt.concat([first_key, "' % '", last_key]) }}
                    )
                )
            ) as has_identity_conflict,
            authorizations_in_force.is_compound,
            authorizations_in_force.is_conditioned_on_treatment,
            coalesce(authorizations_in_force.signer_role, '') != 'self'
            and (
                authorizations_in_force.signer_authority is null
                or representatives_in_force.related_person_id is null
            ) as has_signer_defect,
            coalesce(
                authorizations_in_force.signature_method = 'esign'
                and authorizations_in_force.esign_evidence_id is null,
                false
            ) as has_esign_defect,
            {#- R-MINOR-AGEOUT: a parent's or guardian's signature stops counting
                once the subject reaches majority (unknown birth date: assume so),
                from the earliest instant the birthday begins anywhere (RULES.md
                1.4: an end takes effect as early as its date allows). -#}
            (
                coalesce(authorizations_in_force.signer_role, '')
                in ('parent', 'guardian')
                and (
                    person_contact.birth_date is null
                    or {{ date_begins_first(dbt.dateadd(
                        "year", "person_contact.majority_age", "person_contact.birth_date"
                    )) }} <= {{ as_of }}
                )
            ) as has_aged_out,
            {#- R-MKT-REMUN, R-SALE: paid communications need the payment stated. -#}
            {%- if has_remuneration %}
            not coalesce(authorizations_in_force.is_remuneration_disclosed, false)
            {%- else %}
            false
            {%- endif %} as lacks_remuneration_statement,
            {#- R-SMS-PEWC: a marketing or fundraising text needs prior express
                written consent bound to this very number, with the disclosure that
                consent is no condition of purchase. -#}
            coalesce(
                authorizations_in_force.has_not_condition_of_purchase
                and authorizations_in_force.bound_phone_key
                {%- if channel == 'sms' %}
                = coalesce(
                    {{ phone_key('confidential_requests.alt_contact') }},
                    person_contact.phone_key
                ),
                {%- else %}
                = person_contact.phone_key,
                {%- endif %}
                false
            ) as is_pewc,
            (
                revoked_authorizations.authorization_id is not null
                or coalesce(
                    {{ list_has('authorizations_in_force.purposes', purpose) }}
                    and authorizations_in_force.signed_at
                    < person_revocations.last_revoked_any_topic_at,
                    false
                )
                or coalesce(
                    authorizations_in_force.signed_at
                    < person_revocations.last_revoked_this_topic_at,
                    false
                )
            ) as is_revoked

        from authorizations_in_force
        cross join recipient_kind
        left join person_contact
            on authorizations_in_force.person_id = person_contact.person_id
        left join confidential_requests
            on authorizations_in_force.person_id = confidential_requests.person_id
        left join representatives_in_force
            on
                authorizations_in_force.signer_related_person_id
                = representatives_in_force.related_person_id
                and authorizations_in_force.person_id
                = representatives_in_force.subject_person_id
                and authorizations_in_force.signer_role
                = representatives_in_force.representative_role
                and (
                    representatives_in_force.valid_from is null
                    or representatives_in_force.valid_from
                    <= authorizations_in_force.signed_at
                )
                and (
                    representatives_in_force.valid_to is null
                    or representatives_in_force.valid_to
                    > authorizations_in_force.signed_at
                )
        left join revoked_authorizations
            on
                authorizations_in_force.authorization_id
                = revoked_authorizations.authorization_id
        left join person_revocations
            on authorizations_in_force.person_id = person_revocations.person_id
        where authorizations_in_force.person_id is not null

    ),

    authorization_verdicts as (

        select
            person_id,
            max(
                case
                    when
                        covers_purpose and covers_channel and covers_recipient
                        and covers_info_scope and is_verified_link
                        and not has_core_defect
                        and not coalesce(has_statement_defect, false)
                        and not coalesce(is_not_hipaa_form, false)
                        and not coalesce(is_expired, false)
                        and not coalesce(is_signed_after_receipt, false)
                        and not coalesce(has_identity_conflict, false)
                        and not is_compound
                        and not is_conditioned_on_treatment
                        and not coalesce(has_signer_defect, false)
                        and not coalesce(has_esign_defect, false)
                        and not has_aged_out
                        and not lacks_remuneration_statement
                        and not is_revoked
                        then 1
                    else 0
                end
            ) = 1 as has_valid_authorization,
            max(
                case
                    when
                        covers_purpose and covers_channel and is_verified_link
                        and is_pewc
                        and not has_core_defect
                        and not coalesce(is_expired, false)
                        and not coalesce(is_signed_after_receipt, false)
                        and not coalesce(has_identity_conflict, false)
                        and not coalesce(has_signer_defect, false)
                        and not coalesce(has_esign_defect, false)
                        and not has_aged_out
                        and not is_revoked
                        then 1
                    else 0
                end
            ) = 1 as has_pewc,
            {%- set defects = [
                ("has_core_defect", "fires_core"),
                ("has_statement_defect", "fires_statement"),
                ("is_expired", "fires_expired"),
                ("is_revoked", "fires_revoked"),
                ("(is_signed_after_receipt or has_identity_conflict)", "fires_false"),
                ("is_compound", "fires_compound"),
                ("is_conditioned_on_treatment", "fires_conditioned"),
                ("has_signer_defect", "fires_signer"),
                ("has_esign_defect", "fires_esign"),
                ("has_aged_out", "fires_aged_out"),
                ("lacks_remuneration_statement", "fires_remuneration"),
            ] %}
            {%- for flag, alias in defects %}
            max(
                case when covers_purpose and {{ flag }} then 1 else 0 end
            ) = 1 as {{ alias }},
            {%- endfor %}
            max(
                case
                    when covers_purpose and covers_channel and not covers_recipient
                        then 1
                    else 0
                end
            ) = 1 as fires_recipient,
            max(
                case when covers_purpose and not is_verified_link then 1 else 0 end
            ) = 1 as fires_identity
        from authorization_checks
        group by person_id

    ),

    {#- 5. Channel opt-outs received at or before the instant. A communication with
        no email list is blocked by every email opt-out, scoped or not. -#}
    email_suppressions_in_force as (

        select *
        from email_suppressions
        where
            suppressed_at <= {{ as_of }}
            {%- if parameters or list_id %}
            and (
                {{ list_sql }} is null
                or is_all_commercial
                or list_id = {{ list_sql }}
            )
            {%- endif %}

    ),

    suppressed_people as (

        select distinct person_id
        from email_suppressions_in_force
        where person_id is not null

    ),

    {#- R-EMAIL-NORM: an opt-out also covers the provider-equivalent variants of
        its address (dots and +tags). -#}
    suppressed_emails as (

        select distinct {{ email_match_key('email_norm') }} as email_key
        from email_suppressions_in_force
        where email_norm is not null

    ),

    stopped_phones as (

        select distinct phone_key
        from sms_revocations
        where revoked_at <= {{ as_of }} and phone_key is not null

    ),

    {#- RULES.md 1.5, most restrictive wins: an opt-out of an address or a STOP
        from a number that any record linked to the person carried, known at the
        instant, applies to the person, not only to the address or number the
        communication would use. -#}
    {%- if channel == "email" %}
    linked_suppressed_people as (

        select distinct contact_points.person_id
        from contact_points
        inner join suppressed_emails
            on
                {{ email_match_key('contact_points.contact_value') }}
                = suppressed_emails.email_key
        where
            contact_points.contact_kind = 'email'
            and contact_points.first_known_at <= {{ as_of }}

    ),
    {%- elif channel == "sms" %}
    linked_stopped_people as (

        select distinct contact_points.person_id
        from contact_points
        inner join stopped_phones
            on contact_points.contact_value = stopped_phones.phone_key
        where
            contact_points.contact_kind = 'mobile'
            and contact_points.first_known_at <= {{ as_of }}

    ),
    {%- endif %}

    fundraising_opted_out as (

        select distinct person_id
        from fundraising_optouts
        where
            opted_out_at <= {{ as_of }}
            and (opted_back_in_at is null or opted_back_in_at > {{ as_of }})

    ),

    evaluated as (

        select
            person_contact.person_id,
            case
                when confidential_requests.person_id is not null
                    then confidential_requests.alt_contact
                else person_contact.default_contact
            end as contact_value,

            {#- one flag per rule; true means the rule fired -#}
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
                as r_mkt_auth,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_core, false) as r_auth_core,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_statement, false)
                as r_auth_stmt,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_expired, false) as r_auth_exp,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_revoked, false) as r_auth_rev,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_false, false) as r_auth_false,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_compound, false)
                as r_auth_compound,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_conditioned, false)
                as r_auth_cond,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_signer, false)
                as r_auth_signer,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_esign, false) as r_auth_e_sign,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_recipient, false) as r_recip,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_recipient, false)
            and recipient_kind.is_business_associate as r_baa,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_aged_out, false)
                as r_minor_ageout,
            declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
            and coalesce(authorization_verdicts.fires_remuneration, false)
                as r_remuneration,
            {{ "true" if is_tx_reclassified else "false" }}
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
                as r_mkt_exc_tx,
            {%- if is_refill_reclassified %}
            not coalesce(authorization_verdicts.has_valid_authorization, false)
                as r_mkt_exc_refill,
            {%- elif checks_prescription %}
            prescribed_people.person_id is null as r_mkt_exc_refill,
            {%- else %}
            false as r_mkt_exc_refill,
            {%- endif %}
            {{ "true" if needs_pewc else "false" }}
            and not coalesce(authorization_verdicts.has_pewc, false) as r_sms_pewc,
            declared_purpose.purpose_code in ('MARKETING', 'FUNDRAISING')
            and category_checks.uses_sensitive as r_sens,
            category_checks.uses_psychotherapy_notes as r_psynotes,
            declared_purpose.purpose_code = 'FUNDRAISING'
            and category_checks.uses_non_fundraising_data as r_fund_data,
            declared_purpose.purpose_code = 'FUNDRAISING'
            and (
                {{ "false" if var("npp_has_fundraising_statement", true) else "true" }}
                or not recipient_kind.may_raise_funds
            ) as r_fund_scope,
            category_checks.uses_unknown_category as sem_fail_closed,

            person_contact.deceased_known_at <= {{ as_of }} as r_deceased,
            {#- R-MINOR: of age only once the birthday has begun in every time
                zone, US ones included (UTC-12, D 12:00Z; RULES.md 1.4). The ledger
                carries no residence time zone (INPUTS.md), so none narrows it. -#}
            declared_purpose.is_adults_only
            and (
                person_contact.birth_date is null
                or {{ date_begins_last(dbt.dateadd(
                    "year", "person_contact.majority_age", "person_contact.birth_date"
                )) }} > {{ as_of }}
            ) as r_minor,
            (
                restrictions.person_id is not null
                or (
                    coalesce(flagged_people.has_self_pay, false)
                    and recipient_kind.is_health_plan
                    and category_checks.uses_health_data
                )
            ) as r_restrict,
            coalesce(flagged_people.has_part2, false)
            and category_checks.uses_health_data
            and part2_consents.person_id is null as r_sud_p2,
            confidential_requests.person_id is not null
            and (
                not confidential_requests.allows_channel
                or confidential_requests.alt_contact is null
            ) as r_confcomm,

            {%- if channel == 'email' %}
            declared_purpose.is_commercial_email
            and (
                suppressed_people.person_id is not null
                or suppressed_emails.email_key is not null
                or suppressed_alt_emails.email_key is not null
                or linked_suppressed_people.person_id is not null
            ) as r_email_optout,
            {%- else %}
            false as r_email_optout,
            {%- endif %}

            {%- if channel == 'sms' %}
            (
                stopped_phones.phone_key is not null
                or stopped_alt_phones.phone_key is not null
                or linked_stopped_people.person_id is not null
            ) as r_sms_stop,
            {%- else %}
            false as r_sms_stop,
            {%- endif %}

            declared_purpose.purpose_code = 'FUNDRAISING'
            and fundraising_opted_out.person_id is not null as r_fund_optout,

            not person_contact.is_identity_verified
            or coalesce(authorization_verdicts.fires_identity, false)
            and declared_purpose.needs_authorization
            and not coalesce(authorization_verdicts.has_valid_authorization, false)
                as sem_identity

        from person_contact
        cross join declared_purpose
        cross join recipient_kind
        cross join category_checks
        left join authorization_verdicts
            on person_contact.person_id = authorization_verdicts.person_id
        left join restrictions
            on person_contact.person_id = restrictions.person_id
        left join flagged_people
            on person_contact.person_id = flagged_people.person_id
        left join part2_consents
            on person_contact.person_id = part2_consents.person_id
        left join confidential_requests
            on person_contact.person_id = confidential_requests.person_id
        left join suppressed_people
            on person_contact.person_id = suppressed_people.person_id
        left join suppressed_emails
            on
                {{ email_match_key('person_contact.email_norm') }}
                = suppressed_emails.email_key
        left join suppressed_emails as suppressed_alt_emails
            on
                {{ email_match_key('confidential_requests.alt_contact') }}
                = suppressed_alt_emails.email_key
        left join stopped_phones
            on person_contact.phone_key = stopped_phones.phone_key
        left join stopped_phones as stopped_alt_phones
            on {{ phone_key('confidential_requests.alt_contact') }}
            = stopped_alt_phones.phone_key
        left join fundraising_opted_out
            on person_contact.person_id = fundraising_opted_out.person_id
        {%- if channel == "email" %}
        left join linked_suppressed_people
            on person_contact.person_id = linked_suppressed_people.person_id
        {%- elif channel == "sms" %}
        left join linked_stopped_people
            on person_contact.person_id = linked_stopped_people.person_id
        {%- endif %}
        {%- if checks_prescription %}
        left join prescribed_people
            on person_contact.person_id = prescribed_people.person_id
        {%- endif %}

    ),

    final as (

        select
            person_id,
            '{{ declared_purpose_code }}' as purpose_code,
            '{{ channel }}' as channel,
            cast({{ topic_sql }} as {{ dbt.type_string() }}) as marketing_topic,
            cast({{ list_sql }} as {{ dbt.type_string() }}) as list_id,
            cast({{ recipient_sql }} as {{ dbt.type_string() }}) as recipient,
            {{ as_of }} as as_of,
            '{{ var("rule_set_version", "unversioned") }}' as rule_set_version,
            contact_value,
            concat_ws(
                ';',
                case when sem_fail_closed then 'SEM-FAIL-CLOSED' end,
                case when sem_identity then 'SEM-IDENTITY' end,
                case when contact_value is null then 'SEM-NO-CONTACT' end,
                case when r_mkt_auth then 'R-MKT-AUTH' end,
                case when r_mkt_exc_tx then 'R-MKT-EXC-TX' end,
                case when r_mkt_exc_refill then 'R-MKT-EXC-REFILL' end,
                case
                    when r_remuneration
                        then '{{ "R-SALE" if remuneration_for_phi else "R-MKT-REMUN" }}'
                end,
                case when r_auth_core then 'R-AUTH-CORE' end,
                case when r_auth_stmt then 'R-AUTH-STMT' end,
                case when r_auth_exp then 'R-AUTH-EXP' end,
                case when r_auth_rev then 'R-AUTH-REV' end,
                case when r_auth_false then 'R-AUTH-FALSE' end,
                case when r_auth_compound then 'R-AUTH-COMPOUND' end,
                case when r_auth_cond then 'R-AUTH-COND' end,
                case when r_auth_signer then 'R-AUTH-SIGNER' end,
                case when r_auth_e_sign then 'R-AUTH-E-SIGN' end,
                case when r_recip then 'R-RECIP' end,
                case when r_baa then 'R-BAA' end,
                case when r_deceased then 'R-DECEASED' end,
                case when r_minor then 'R-MINOR' end,
                case when r_minor_ageout then 'R-MINOR-AGEOUT' end,
                case when r_sens then 'R-SENS' end,
                case when r_psynotes then 'R-PSYNOTES' end,
                case when r_sud_p2 then 'R-SUD-P2' end,
                case when r_restrict then 'R-RESTRICT' end,
                case when r_confcomm then 'R-CONFCOMM' end,
                case when r_email_optout then 'R-EMAIL-OPTOUT' end,
                case when r_sms_stop then 'R-SMS-STOP' end,
                case when r_sms_pewc then 'R-SMS-PEWC' end,
                case when r_fund_optout then 'R-FUND-OPTOUT' end,
                case when r_fund_data then 'R-FUND-DATA' end,
                case when r_fund_scope then 'R-FUND-SCOPE' end
            ) as rules_fired
        from evaluated

    )

    select
        final.*,
        final.rules_fired = '' as is_eligible
    from final
{%- if not parameters %}
){%- endif %}
{%- endmacro %}
