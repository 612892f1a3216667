"""Salesforce object exports (CSV with API field names) into the `crm_*` tables.

Mapping decisions (INPUTS.md, "CRM: Salesforce object exports"):

- Header names match in any case; a byte-order mark is dropped; columns the contract
  does not name are ignored (they stay in `_record_json`).
- Every object needs `Id`, `IsDeleted` and `LastModifiedDate` in its header, and a
  value in `Id` and `LastModifiedDate` on every row. `_record_at` and
  `last_modified_at` are `LastModifiedDate`.
- The consent objects (ContactPointTypeConsent, AuthorizationFormText,
  AuthorizationFormConsent) need every column the contract names, so that an
  export missing, say, `RevokedDateTime__c` fails instead of reading as no
  revocations. Contact needs `HasOptedOutOfEmail` and `DoNotCall` for the same
  reason; its other columns may be absent (read as null, with a warning).
- Checkboxes: `TRUE`/`FALSE` in any case, empty reads as false.
- A field that may hold a date where a time is expected (consent dates, expiry,
  revocation) reads into `<name>_at` at 00:00 UTC of the date with
  `<name>_is_date_only` true; the models apply RULES.md 1.4.
- List fields (`Purposes__c`, `InfoScope__c`, `Channels__c`...) are trimmed and
  joined by `;`; unknown values are kept (they grant nothing downstream).

Quarantined: no `Id` or `LastModifiedDate`, or one of the fields below missing; a
date, time or checkbox that does not read; a `ContactPointType`,
`PrivacyConsentStatus`, authorization `Status`, `SignerRole__c` or
`SignatureMethod__c` outside its code set; a birth date after the batch's
`received_at`.
"""

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipelines.lib.ingest.conform import Check, Chunk, Field, Kind, ReadContext
from pipelines.lib.ingest.specs import CsvSpec, read_csv_spec

CONTACT_POINT_TYPES = frozenset({"Email", "Phone", "MailingAddress"})
PRIVACY_CONSENT_STATUSES = frozenset({"OptIn", "OptOut", "Seen", "NotSeen"})
AUTHORIZATION_STATUSES = frozenset({"Signed", "Revoked", "Declined", "Seen"})
SIGNER_ROLES = frozenset({"Self", "Parent", "Guardian", "HealthcarePOA", "Executor"})
SIGNATURE_METHODS = frozenset({"Wet", "ESign"})


def _spec(
    table: str,
    key: str,
    fields: list[tuple[str, Field]],
    *,
    optional: frozenset[str] = frozenset(),
    checks: tuple[Check, ...] = (),
) -> CsvSpec:
    """Build the spec of one object from (source column, field) pairs.

    Every object also reads `Id`, `IsDeleted` and `LastModifiedDate`. The header
    must have every source column but those in `optional`.
    """
    pairs = [
        ("Id", Field(key, "Id", required=True)),
        ("IsDeleted", Field("is_deleted", "IsDeleted", Kind.CHECKBOX)),
        (
            "LastModifiedDate",
            Field(
                "last_modified_at", "LastModifiedDate", Kind.TIMESTAMP, required=True
            ),
        ),
        *fields,
    ]
    return CsvSpec(
        table=table,
        key=key,
        columns={f.name: (source,) for source, f in pairs},
        required=frozenset(f.name for source, f in pairs if source not in optional),
        fields=tuple(f for _, f in pairs),
        checks=checks,
        record_at=pl.col("last_modified_at"),
    )


def _text(
    source: str,
    name: str,
    *,
    required: bool = False,
    codes: frozenset[str] | None = None,
) -> tuple[str, Field]:
    return source, Field(name, source, required=required, codes=codes)


def _typed(source: str, name: str, kind: Kind) -> tuple[str, Field]:
    return source, Field(name, source, kind)


CONTACT = _spec(
    "crm_contacts",
    "contact_id",
    [
        _text("FirstName", "first_name"),
        _text("LastName", "last_name"),
        _text("Email", "email"),
        _text("MobilePhone", "mobile_phone"),
        _text("HomePhone", "home_phone"),
        _text("MailingStreet", "mailing_street"),
        _text("MailingCity", "mailing_city"),
        _text("MailingState", "mailing_state"),
        _text("MailingPostalCode", "mailing_postal_code"),
        _typed("Birthdate", "birth_date", Kind.DATE),
        _typed("HasOptedOutOfEmail", "has_opted_out_of_email", Kind.CHECKBOX),
        _typed("DoNotCall", "do_not_call", Kind.CHECKBOX),
        _text("MRN__c", "mrn"),
        _typed("EmailVerified__c", "email_verified", Kind.CHECKBOX),
    ],
    optional=frozenset(
        {
            "FirstName",
            "LastName",
            "Email",
            "MobilePhone",
            "HomePhone",
            "MailingStreet",
            "MailingCity",
            "MailingState",
            "MailingPostalCode",
            "Birthdate",
            "MRN__c",
            "EmailVerified__c",
        }
    ),
    checks=(
        Check(
            pl.col("birth_date") > pl.col("_received_at").dt.date(),
            "Birthdate is after the batch's received_at",
        ),
    ),
)

CONTACT_POINT_TYPE_CONSENT = _spec(
    "crm_contact_point_consents",
    "contact_point_consent_id",
    [
        _text("PartyId", "party_id", required=True),
        _text(
            "ContactPointType",
            "contact_point_type",
            required=True,
            codes=CONTACT_POINT_TYPES,
        ),
        _text("DataUsePurpose", "data_use_purpose", required=True),
        _text(
            "PrivacyConsentStatus",
            "privacy_consent_status",
            required=True,
            codes=PRIVACY_CONSENT_STATUSES,
        ),
        _typed("EffectiveFrom", "effective_from", Kind.FLAGGED),
        _typed("EffectiveTo", "effective_to", Kind.FLAGGED),
        _typed("CaptureDate", "capture", Kind.FLAGGED),
        _text("CaptureSource", "capture_source"),
        _text("ContactPointValue__c", "contact_point_value"),
        _text("ListId__c", "list_id"),
    ],
)

AUTHORIZATION_FORM_TEXT = _spec(
    "crm_authorization_form_texts",
    "authorization_form_text_id",
    [
        _text("Name", "name"),
        _text("RevisionNumber", "revision_number"),
        _typed("AssociatedRegulation__c", "associated_regulation", Kind.LIST),
        _typed("HasRevocationStatement__c", "has_revocation_statement", Kind.CHECKBOX),
        _typed(
            "HasConditioningStatement__c", "has_conditioning_statement", Kind.CHECKBOX
        ),
        _typed(
            "HasRedisclosureStatement__c", "has_redisclosure_statement", Kind.CHECKBOX
        ),
        _typed(
            "HasNotConditionOfPurchase__c",
            "has_not_condition_of_purchase",
            Kind.CHECKBOX,
        ),
        _typed("IsCompound__c", "is_compound", Kind.CHECKBOX),
        _typed("ConditionedOnTreatment__c", "conditioned_on_treatment", Kind.CHECKBOX),
    ],
)


AUTHORIZATION_FORM_CONSENT = _spec(
    "crm_authorization_form_consents",
    "authorization_form_consent_id",
    [
        _text("ConsentGiverId", "consent_giver_id", required=True),
        _text("AuthorizationFormTextId", "authorization_form_text_id", required=True),
        _text("Status", "status", required=True, codes=AUTHORIZATION_STATUSES),
        _typed("ConsentCapturedDateTime", "consent_captured", Kind.FLAGGED),
        _text("ConsentCapturedSource", "consent_captured_source"),
        _typed("Purposes__c", "purposes", Kind.LIST),
        _typed("InfoScope__c", "info_scope", Kind.LIST),
        _typed("Disclosers__c", "disclosers", Kind.LIST),
        _typed("Recipients__c", "recipients", Kind.LIST),
        _typed("EmployerRecipients__c", "employer_recipients", Kind.LIST),
        _typed("Channels__c", "channels", Kind.LIST),
        _typed("ExpirationDateTime__c", "expiration", Kind.FLAGGED),
        _text("ExpirationEvent__c", "expiration_event"),
        _typed(
            "ExpirationEventOccurredAt__c", "expiration_event_occurred", Kind.FLAGGED
        ),
        _text("SignerRole__c", "signer_role", codes=SIGNER_ROLES),
        _text("SignerName__c", "signer_name"),
        _text("SignerRelatedPersonId__c", "signer_related_person_id"),
        _text("SignerAuthority__c", "signer_authority"),
        _text("SignatureMethod__c", "signature_method", codes=SIGNATURE_METHODS),
        _text("ESignEvidenceId__c", "esign_evidence_id"),
        _typed("RemunerationDisclosed__c", "remuneration_disclosed", Kind.CHECKBOX),
        _text("BoundEmail__c", "bound_email"),
        _text("BoundPhone__c", "bound_phone"),
        _typed("RevokedDateTime__c", "revoked", Kind.FLAGGED),
        _text("RevocationChannel__c", "revocation_channel"),
        _typed("RevocationWritten__c", "revocation_written", Kind.CHECKBOX),
        _text("DocumentSha256__c", "document_sha256"),
    ],
)

OBJECTS: dict[str, CsvSpec] = {
    "Contact": CONTACT,
    "ContactPointTypeConsent": CONTACT_POINT_TYPE_CONSENT,
    "AuthorizationFormText": AUTHORIZATION_FORM_TEXT,
    "AuthorizationFormConsent": AUTHORIZATION_FORM_CONSENT,
}
"""The objects read, by API name (`<Object>.csv`); other objects are skipped."""


def read_object(
    path: Path, rel: str, object_name: str, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read one Salesforce object export into its raw table, in chunks.

    Raises:
        IngestError: The header lacks a required column, or a row does not parse.
    """
    return read_csv_spec(path, rel, OBJECTS[object_name], ctx)
