"""Small valid landing files of every format the readers take, built in code.

Every builder takes a row number `n` and a `tag` that makes keys and personal values
unique (a test that loads several batches into one warehouse gives each its own
tag). The personal values are synthetic but distinctive, so that a test can check
that no reason or error message quotes them.
"""

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from pipelines.lib.ingest.fhir import ALT_CONTACT_URL, CONSENT_SCOPE, KIND_SYSTEM

RECEIVED_AT = datetime(2026, 6, 1, tzinfo=UTC)
"""The default `exported_at` of a batch written by `write_batch`."""

MR_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
SNOMED = "http://snomed.info/sct"
PURPOSE_SYSTEM = "https://clearlist.dev/fhir/CodeSystem/purpose"
CHANNEL_SYSTEM = "https://clearlist.dev/fhir/CodeSystem/channel"

CONTACT_HEADER = (
    "Id",
    "IsDeleted",
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
    "HasOptedOutOfEmail",
    "DoNotCall",
    "MRN__c",
    "EmailVerified__c",
    "LastModifiedDate",
)


def write_batch(
    landing: Path,
    source: str,
    name: str,
    files: Mapping[str, str | bytes],
    *,
    exported_at: datetime = RECEIVED_AT,
) -> Path:
    """Write one batch folder with an `export.json` dating it; return the folder."""
    folder = landing / source / name
    folder.mkdir(parents=True)
    export = {"exported_at": exported_at.isoformat().replace("+00:00", "Z")}
    (folder / "export.json").write_text(json.dumps(export), encoding="utf-8")
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return folder


def ndjson(records: Iterable[Mapping[str, object]]) -> str:
    """One compact JSON object a line, each line ended by a newline."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


def csv_text(rows: list[Mapping[str, str]], header: Iterable[str] = ()) -> str:
    """A CSV file: a header row (the first row's keys unless given), then the rows."""
    names = list(header) or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([row.get(name, "") for name in names] for row in rows)
    return out.getvalue()


def personal_values(record: object) -> set[str]:
    """The values of a record that identify a person or a record.

    Every text leaf of at least five characters holding a digit or an `@`: ids,
    MRNs, names (the builders put the row number in them), e-mails, phone numbers,
    streets and dates. Codes and labels are left out, since reasons name fields.
    """
    if isinstance(record, Mapping):
        return set().union(*(personal_values(v) for v in record.values()))
    if isinstance(record, list):
        return set().union(*(personal_values(v) for v in record))
    text = str(record)
    if len(text) >= 5 and any(c.isdigit() or c == "@" for c in text):
        return {text}
    return set()


# ---------------------------------------------------------------- FHIR


def fhir_patient(
    n: int,
    tag: str = "",
    *,
    version: str = "1",
    updated: str = "2026-05-01T10:00:00Z",
) -> dict[str, object]:
    """A Patient with an MRN, a name, telecoms, a home address and a birth date."""
    return {
        "resourceType": "Patient",
        "id": f"pat-{tag}{n:04d}",
        "meta": {"versionId": version, "lastUpdated": updated},
        "identifier": [
            {
                "type": {"coding": [{"system": MR_SYSTEM, "code": "MR"}]},
                "value": f"MRN{tag}{n:06d}",
            }
        ],
        "name": [{"use": "official", "family": f"Vantongeren{n}", "given": ["Ysolde"]}],
        "telecom": [
            {"system": "email", "value": f"ysolde.{tag}{n}@example.org"},
            {"system": "phone", "use": "mobile", "value": f"+1615555{n:04d}"},
        ],
        "gender": ("female", "male", "other", "unknown")[n % 4],
        "birthDate": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 9}",
        "deceasedBoolean": False,
        "address": [
            {
                "use": "home",
                "line": [f"{100 + n} Juniper Way"],
                "city": "Nashville",
                "state": "TN",
                "postalCode": f"372{n % 100:02d}",
            }
        ],
    }


def fhir_condition(n: int, tag: str = "") -> dict[str, object]:
    """A Condition of patient `n`, coded in SNOMED CT."""
    return {
        "resourceType": "Condition",
        "id": f"cond-{tag}{n:04d}",
        "meta": {"versionId": "1", "lastUpdated": "2026-05-02T08:00:00Z"},
        "subject": {"reference": f"Patient/pat-{tag}{n:04d}"},
        "code": {
            "coding": [{"system": SNOMED, "code": "44054006", "display": "Diabetes"}]
        },
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "onsetDateTime": f"20{10 + n % 15}-03-04T10:00:00Z",
        "recordedDate": f"20{10 + n % 15}-03-05",
    }


def fhir_consent(n: int, tag: str = "") -> dict[str, object]:
    """A privacy-office Consent of patient `n`: a restriction on e-mail marketing."""
    return {
        "resourceType": "Consent",
        "id": f"cons-{tag}{n:04d}",
        "meta": {"versionId": "1", "lastUpdated": "2026-04-02T09:30:00Z"},
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": KIND_SYSTEM, "code": "restriction"}]}],
        "patient": {"reference": f"Patient/pat-{tag}{n:04d}"},
        "dateTime": "2026-04-02T09:00:00Z",
        "provision": {
            "type": "deny",
            "period": {"start": "2026-04-02"},
            "purpose": [{"system": PURPOSE_SYSTEM, "code": "MARKETING"}],
            "action": [{"coding": [{"system": CHANNEL_SYSTEM, "code": "email"}]}],
        },
        "extension": [
            {
                "url": ALT_CONTACT_URL,
                "valueContactPoint": {
                    "system": "email",
                    "value": f"alt.{tag}{n}@example.org",
                },
            }
        ],
    }


# ---------------------------------------------------------------- Salesforce


def contact(
    n: int, tag: str = "", *, modified: str = "2026-05-20T10:00:00.000+0000"
) -> dict[str, str]:
    """A Salesforce Contact row, every contract column filled."""
    return {
        "Id": f"003{tag}{n:06d}",
        "IsDeleted": "FALSE",
        "FirstName": f"Ottoline{n}",
        "LastName": "Brackenbury",
        "Email": f"ottoline.{tag}{n}@example.com",
        "MobilePhone": f"(615) 555-{n:04d}",
        "HomePhone": "",
        "MailingStreet": f"{200 + n} Larkspur Ln",
        "MailingCity": "Memphis",
        "MailingState": "TN",
        "MailingPostalCode": f"381{n % 100:02d}",
        "Birthdate": f"19{60 + n % 30}-1{n % 3}-2{n % 8}",
        "HasOptedOutOfEmail": "FALSE",
        "DoNotCall": "",
        "MRN__c": f"MRN{tag}{n:06d}",
        "EmailVerified__c": "TRUE",
        "LastModifiedDate": modified,
    }


def contact_point_consent(n: int, tag: str = "") -> dict[str, str]:
    """A ContactPointTypeConsent row: an e-mail marketing opt-in."""
    return {
        "Id": f"0ZY{tag}{n:06d}",
        "IsDeleted": "FALSE",
        "PartyId": f"003{tag}{n:06d}",
        "ContactPointType": ("Email", "Phone", "MailingAddress")[n % 3],
        "DataUsePurpose": "MARKETING",
        "PrivacyConsentStatus": ("OptIn", "OptOut", "Seen", "NotSeen")[n % 4],
        "EffectiveFrom": "2025-10-23T09:22:46.000+0000",
        "EffectiveTo": "",
        "CaptureDate": "2025-10-23",
        "CaptureSource": "Patient Portal",
        "ContactPointValue__c": f"ottoline.{tag}{n}@example.com",
        "ListId__c": "",
        "LastModifiedDate": "2025-10-23T10:07:57.000+0000",
    }


def authorization_consent(n: int, tag: str = "") -> dict[str, str]:
    """An AuthorizationFormConsent row: a signed marketing authorization."""
    return {
        "Id": f"0cM{tag}{n:06d}",
        "IsDeleted": "FALSE",
        "ConsentGiverId": f"003{tag}{n:06d}",
        "AuthorizationFormTextId": "0cNHs0000005BANMA2",
        "Status": ("Signed", "Revoked", "Declined", "Seen")[n % 4],
        "ConsentCapturedDateTime": "2025-12-20T22:14:06.000+0000",
        "ConsentCapturedSource": "Patient Portal",
        "Purposes__c": "MARKETING;HEALTH_ED",
        "InfoScope__c": "demographics;contact",
        "Disclosers__c": "CoveredEntity",
        "Recipients__c": "CoveredEntity",
        "EmployerRecipients__c": "",
        "Channels__c": "email;sms",
        "ExpirationDateTime__c": "2028-06-12",
        "ExpirationEvent__c": "",
        "ExpirationEventOccurredAt__c": "",
        "SignerRole__c": "Self",
        "SignerName__c": f"Ottoline{n} Brackenbury",
        "SignerRelatedPersonId__c": "",
        "SignerAuthority__c": "",
        "SignatureMethod__c": "ESign",
        "ESignEvidenceId__c": f"env-{tag}{n:08d}",
        "RemunerationDisclosed__c": "FALSE",
        "BoundEmail__c": f"ottoline.{tag}{n}@example.com",
        "BoundPhone__c": "",
        "RevokedDateTime__c": "",
        "RevocationChannel__c": "",
        "RevocationWritten__c": "",
        "DocumentSha256__c": f"{n:064d}",
        "LastModifiedDate": "2025-12-23T00:32:50.000+0000",
    }


# ---------------------------------------------------------------- Synthea


def synthea_patient(n: int, tag: str = "") -> dict[str, str]:
    """A row of Synthea's `patients.csv` (current layout)."""
    return {
        "Id": f"syn-{tag}{n:04d}",
        "BIRTHDATE": f"19{55 + n % 40}-0{1 + n % 9}-0{1 + n % 9}",
        "DEATHDATE": "",
        "SSN": f"999-{n % 100:02d}-{n:04d}",
        "FIRST": f"Wendeline{n}",
        "MIDDLE": "",
        "LAST": "Oakhurst",
        "GENDER": "MF"[n % 2],
        "ADDRESS": f"{300 + n} Cedar Ct",
        "CITY": "Knoxville",
        "STATE": "Tennessee",
        "ZIP": f"379{n % 100:02d}",
    }


def synthea_condition(n: int, tag: str = "") -> dict[str, str]:
    """A row of Synthea's `conditions.csv`; its id is derived from the natural key."""
    return {
        "START": f"20{10 + n % 15}-02-0{1 + n % 9}",
        "STOP": "",
        "PATIENT": f"syn-{tag}{n:04d}",
        "ENCOUNTER": f"enc-{tag}{n:04d}",
        "CODE": f"{44054006 + n}",
        "DESCRIPTION": "Diabetes",
    }


# ---------------------------------------------------------------- engagement


def sendgrid_event(n: int, tag: str = "") -> dict[str, object]:
    """A SendGrid Event Webhook event with Clearlist's custom arguments."""
    return {
        "email": f"ottoline.{tag}{n}@example.com",
        "timestamp": 1775508453 + n,
        "event": ("delivered", "open", "click", "processed")[n % 4],
        "sg_event_id": f"sgev-{tag}{n:06d}",
        "sg_message_id": f"msg-{tag}{n:06d}.filter0001",
        "category": ["cmp-wellness-2026"],
        "asm_group_id": 4101,
        "sg_machine_open": False,
        "contact_id": f"003{tag}{n:06d}",
        "campaign_id": "cmp-wellness-2026",
    }


def twilio_message(n: int, tag: str = "") -> dict[str, object]:
    """A Twilio status callback (even `n`) or inbound message (odd `n`)."""
    sid = f"SM{tag}{n:08d}"
    if n % 2 == 0:
        return {
            "MessageSid": sid,
            "MessageStatus": ("sent", "delivered")[n % 4 // 2],
            "To": f"+1901555{n:04d}",
            "From": "+18445550142",
            "received_at": f"2026-05-16T17:{n % 60:02d}:08Z",
        }
    return {
        "MessageSid": sid,
        "SmsStatus": "received",
        "To": "+18445550142",
        "From": f"+1901555{n:04d}",
        "Body": "STOP",
        "OptOutType": "STOP",
        "received_at": f"2026-05-17T09:{n % 60:02d}:00Z",
    }


def app_event(n: int, tag: str = "") -> dict[str, object]:
    """An app event naming its contact (even `n`) or its MRN (odd `n`)."""
    who = (
        {"contact_id": f"003{tag}{n:06d}"}
        if n % 2 == 0
        else {"mrn": f"MRN{tag}{n:06d}"}
    )
    return {
        "event_id": f"evt-{tag}{n:06d}",
        "occurred_at": f"2025-08-20T16:{n % 60:02d}:51.178Z",
        **who,
        "type": ("portal_login", "form_submitted", "purchase")[n % 3],
        "campaign_id": "cmp-wellness-2026",
        "properties": {"device": "ios"},
    }
