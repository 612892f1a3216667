"""The shape of every table in the warehouse's `raw` schema.

Ingestion writes these tables and only staging models read them. Each source entity
gets one table; every version of every record is kept (history, never overwrite), and
each row carries where and when it came from:

- `_batch_id`: the landing batch folder name (`<source>/<batch>`).
- `_source_file`: the file inside the batch, relative to the batch folder.
- `_source_line`: 1-based line (NDJSON/JSONL) or data row (CSV) number in that file;
  for a JSON array file, the 1-based position of the element.
- `_received_at`: when the organization had the batch (INPUTS.md: manifest
  `transactionTime`, `export.json` `exported_at`, else folder modification time).
- `_record_at`: the record's own time where the contract names one, else null.
- `_loaded_at`: when this load ran.
- `_record_json`: the source record as JSON text, for full fidelity and replay.

Timestamps are UTC. A source value that may be a bare date where a time is expected
(Salesforce consent fields) is read into `<name>_at` at 00:00 UTC of that date plus a
`<name>_is_date_only` flag; the models apply RULES.md 1.4 to it. Multi-valued fields
(FHIR labels, semicolon lists) are stored as text joined by `;`, which keeps the raw
layer portable across warehouses.
"""

import polars as pl

TS = pl.Datetime("us", "UTC")

LINEAGE_COLUMNS: dict[str, pl.DataType] = {
    "_batch_id": pl.String(),
    "_source_file": pl.String(),
    "_source_line": pl.Int64(),
    "_received_at": TS,
    "_record_at": TS,
    "_loaded_at": TS,
    "_record_json": pl.String(),
}

# ---------------------------------------------------------------- EHR (FHIR R4)
_FHIR_COMMON: dict[str, pl.DataType] = {
    "version_id": pl.String(),
    "last_updated_at": TS,
    "security_labels": pl.String(),
}

EHR_TABLES: dict[str, dict[str, pl.DataType]] = {
    "ehr_patients": {
        "patient_id": pl.String(),
        "mrn": pl.String(),
        "family_name": pl.String(),
        "given_name": pl.String(),
        "gender": pl.String(),
        "birth_date": pl.Date(),
        "address_line": pl.String(),
        "address_city": pl.String(),
        "address_state": pl.String(),
        "address_postal_code": pl.String(),
        "email": pl.String(),
        "mobile_phone": pl.String(),
        "home_phone": pl.String(),
        "language": pl.String(),
        "is_deceased": pl.Boolean(),
        "deceased_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_related_persons": {
        "related_person_id": pl.String(),
        "patient_id": pl.String(),
        "relationship_code": pl.String(),
        "name": pl.String(),
        "period_start_at": TS,
        "period_end_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_conditions": {
        "condition_id": pl.String(),
        "patient_id": pl.String(),
        "encounter_id": pl.String(),
        "code_system": pl.String(),
        "code": pl.String(),
        "display": pl.String(),
        "clinical_status": pl.String(),
        "onset_at": TS,
        "abatement_at": TS,
        "recorded_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_encounters": {
        "encounter_id": pl.String(),
        "patient_id": pl.String(),
        "status": pl.String(),
        "class_code": pl.String(),
        "type_code": pl.String(),
        "type_display": pl.String(),
        "service_type_code": pl.String(),
        "service_type_display": pl.String(),
        "practitioner_id": pl.String(),
        "period_start_at": TS,
        "period_end_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_procedures": {
        "procedure_id": pl.String(),
        "patient_id": pl.String(),
        "encounter_id": pl.String(),
        "code_system": pl.String(),
        "code": pl.String(),
        "display": pl.String(),
        "status": pl.String(),
        "performed_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_medication_requests": {
        "medication_request_id": pl.String(),
        "patient_id": pl.String(),
        "encounter_id": pl.String(),
        "code_system": pl.String(),
        "code": pl.String(),
        "display": pl.String(),
        "status": pl.String(),
        "authored_at": TS,
        "validity_start_at": TS,
        "validity_end_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_immunizations": {
        "immunization_id": pl.String(),
        "patient_id": pl.String(),
        "encounter_id": pl.String(),
        "code_system": pl.String(),
        "code": pl.String(),
        "display": pl.String(),
        "status": pl.String(),
        "occurred_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_observations": {
        "observation_id": pl.String(),
        "patient_id": pl.String(),
        "encounter_id": pl.String(),
        "code_system": pl.String(),
        "code": pl.String(),
        "display": pl.String(),
        "status": pl.String(),
        "value_number": pl.Float64(),
        "value_unit": pl.String(),
        "value_text": pl.String(),
        "effective_at": TS,
        **_FHIR_COMMON,
    },
    "ehr_consents": {
        "consent_id": pl.String(),
        "patient_id": pl.String(),
        "status": pl.String(),
        "scope_code": pl.String(),
        "kind": pl.String(),
        "provision_type": pl.String(),
        "purposes": pl.String(),
        "actions": pl.String(),
        "actors": pl.String(),
        "service_codes": pl.String(),
        "period_start_at": TS,
        "period_end_at": TS,
        "agreed_at": TS,
        "alt_contact_system": pl.String(),
        "alt_contact_value": pl.String(),
        "alt_address_state": pl.String(),
        "alt_address_postal_code": pl.String(),
        **_FHIR_COMMON,
    },
}

# ---------------------------------------------------------------- CRM (Salesforce)
_SF_COMMON: dict[str, pl.DataType] = {
    "is_deleted": pl.Boolean(),
    "last_modified_at": TS,
}

CRM_TABLES: dict[str, dict[str, pl.DataType]] = {
    "crm_contacts": {
        "contact_id": pl.String(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "email": pl.String(),
        "mobile_phone": pl.String(),
        "home_phone": pl.String(),
        "mailing_street": pl.String(),
        "mailing_city": pl.String(),
        "mailing_state": pl.String(),
        "mailing_postal_code": pl.String(),
        "birth_date": pl.Date(),
        "has_opted_out_of_email": pl.Boolean(),
        "do_not_call": pl.Boolean(),
        "mrn": pl.String(),
        "email_verified": pl.Boolean(),
        **_SF_COMMON,
    },
    "crm_contact_point_consents": {
        "contact_point_consent_id": pl.String(),
        "party_id": pl.String(),
        "contact_point_type": pl.String(),
        "data_use_purpose": pl.String(),
        "privacy_consent_status": pl.String(),
        "effective_from_at": TS,
        "effective_from_is_date_only": pl.Boolean(),
        "effective_to_at": TS,
        "effective_to_is_date_only": pl.Boolean(),
        "capture_at": TS,
        "capture_is_date_only": pl.Boolean(),
        "capture_source": pl.String(),
        "contact_point_value": pl.String(),
        "list_id": pl.String(),
        **_SF_COMMON,
    },
    "crm_authorization_form_texts": {
        "authorization_form_text_id": pl.String(),
        "name": pl.String(),
        "revision_number": pl.String(),
        "associated_regulation": pl.String(),
        "has_revocation_statement": pl.Boolean(),
        "has_conditioning_statement": pl.Boolean(),
        "has_redisclosure_statement": pl.Boolean(),
        "has_not_condition_of_purchase": pl.Boolean(),
        "is_compound": pl.Boolean(),
        "conditioned_on_treatment": pl.Boolean(),
        **_SF_COMMON,
    },
    "crm_authorization_form_consents": {
        "authorization_form_consent_id": pl.String(),
        "consent_giver_id": pl.String(),
        "authorization_form_text_id": pl.String(),
        "status": pl.String(),
        "consent_captured_at": TS,
        "consent_captured_is_date_only": pl.Boolean(),
        "consent_captured_source": pl.String(),
        "purposes": pl.String(),
        "info_scope": pl.String(),
        "disclosers": pl.String(),
        "recipients": pl.String(),
        "employer_recipients": pl.String(),
        "channels": pl.String(),
        "expiration_at": TS,
        "expiration_is_date_only": pl.Boolean(),
        "expiration_event": pl.String(),
        "expiration_event_occurred_at": TS,
        "expiration_event_occurred_is_date_only": pl.Boolean(),
        "signer_role": pl.String(),
        "signer_name": pl.String(),
        "signer_related_person_id": pl.String(),
        "signer_authority": pl.String(),
        "signature_method": pl.String(),
        "esign_evidence_id": pl.String(),
        "remuneration_disclosed": pl.Boolean(),
        "bound_email": pl.String(),
        "bound_phone": pl.String(),
        "revoked_at": TS,
        "revoked_is_date_only": pl.Boolean(),
        "revocation_channel": pl.String(),
        "revocation_written": pl.Boolean(),
        "document_sha256": pl.String(),
        **_SF_COMMON,
    },
}

# ---------------------------------------------------------------- engagement
ENGAGEMENT_TABLES: dict[str, dict[str, pl.DataType]] = {
    "esp_sendgrid_events": {
        "sg_event_id": pl.String(),
        "event": pl.String(),
        "email": pl.String(),
        "occurred_at": TS,
        "sg_message_id": pl.String(),
        "category": pl.String(),
        "asm_group_id": pl.String(),
        "url": pl.String(),
        "reason": pl.String(),
        "bounce_type": pl.String(),
        "is_machine_open": pl.Boolean(),
        "contact_id": pl.String(),
        "campaign_id": pl.String(),
        "workflow_id": pl.String(),
        "step_id": pl.String(),
    },
    "sms_twilio_messages": {
        "message_sid": pl.String(),
        "message_kind": pl.String(),
        "message_status": pl.String(),
        "to_number": pl.String(),
        "from_number": pl.String(),
        "error_code": pl.String(),
        "body": pl.String(),
        "opt_out_type": pl.String(),
        "occurred_at": TS,
    },
    "app_events": {
        "event_id": pl.String(),
        "event_type": pl.String(),
        "occurred_at": TS,
        "contact_id": pl.String(),
        "mrn": pl.String(),
        "campaign_id": pl.String(),
        "workflow_id": pl.String(),
        "step_id": pl.String(),
        "message_sid": pl.String(),
        "properties": pl.String(),
    },
}

RAW_TABLES: dict[str, dict[str, pl.DataType]] = {
    **EHR_TABLES,
    **CRM_TABLES,
    **ENGAGEMENT_TABLES,
}

# `record_key`: the key of the quarantined record (FHIR id, Salesforce Id, event id)
# when it could be read, so that a quarantined newer version of a record can make the
# models fail closed on that record instead of trusting its older version.
QUARANTINE_COLUMNS: dict[str, pl.DataType] = {
    "_batch_id": pl.String(),
    "_source_file": pl.String(),
    "_source_line": pl.Int64(),
    "entity": pl.String(),
    "record_key": pl.String(),
    "reason": pl.String(),
    "_received_at": TS,
    "_loaded_at": TS,
}

LOAD_LOG_COLUMNS: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "source": pl.String(),
    "source_file": pl.String(),
    "sha256": pl.String(),
    "entity": pl.String(),
    "rows_loaded": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "received_at": TS,
    "loaded_at": TS,
}


def table_schema(table: str) -> dict[str, pl.DataType]:
    """Return the full column set of a raw table: its own columns, then lineage."""
    return {**RAW_TABLES[table], **LINEAGE_COLUMNS}
