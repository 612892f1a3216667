"""FHIR R4 resources: Bulk Data NDJSON, and JSON files of one resource or a Bundle.

NDJSON holds one resource a line, one file per resource type.

Mapping decisions (INPUTS.md, "EHR: FHIR R4 Bulk Data NDJSON"):

- Every resource: `version_id` = `meta.versionId`, `last_updated_at` =
  `meta.lastUpdated`, `security_labels` = every `meta.security` code joined by `;`,
  `_record_at` = `meta.lastUpdated` (Consent: `dateTime`, else `meta.lastUpdated`).
  A line whose `resourceType` is not the file's type is quarantined.
- References keep the bare id: `Patient/<id>` (relative or absolute URL, or
  `urn:uuid:<id>`) gives `<id>`; a practitioner given as a conditional reference
  (`Practitioner?identifier=<system>|<value>`, as Synthea writes it) gives `<value>`.
- Coded fields take the first coding (system, code, display, else the text).
- Partial dates (`YYYY`, `YYYY-MM`) read as their first instant, except a partial
  `birthDate`, which reads as its last day (the youngest the patient can be).
- Patient: `mrn` = the value of the identifier whose `type.coding` has code `MR`;
  the name used is `official`, else the first not `old`/`maiden`, else the first;
  the address is the first `home` one without an end, else the first not `old`
  without an end, else the first not `old`, else the first; `email`: telecom
  `email`; `mobile_phone`: `sms`, or `phone` with use `mobile`; `home_phone`:
  `phone` with use `home` (telecoms with use `old` are passed over, and an entry
  without `period.end` is preferred); `language`: the preferred communication, else
  the first; `is_deceased`: true when `deceasedDateTime` is present, else
  `deceasedBoolean`, else null.
- RelatedPerson: `relationship_code` = the first representative code (`MTH`, `FTH`,
  `PRN`, `GUARD`, `POWATT`, `HPOWATT`, `EXEC`) among its relationships, else the
  first code; other relationships load too (they carry no authority).
- Encounter: `class_code` = `class.code`; the practitioner is the first participant
  typed `PPRF`, `ATND` or `PART`, else the first participant.
- Consent: `kind` = the category code of `.../CodeSystem/consent-kind` (null when
  there is none); `purposes` from `provision.purpose` (v3-ActReason `HMARKT` reads as
  `MARKETING`, `TREAT` as `TREATMENT`); `actions` every `provision.action` code;
  `actors` every `provision.actor[].reference.display`; `service_codes` every
  `provision.code` code; the alternative contact from the extension
  `.../StructureDefinition/alternative-contact` (`valueContactPoint`, or
  `valueAddress` with system `address`). Only the top-level provision is flattened;
  nested provisions stay in `_record_json`.

A FHIR JSON file (`*.json`, as EHRs export single resources and Bundles) holds one
resource, or a Bundle whose `entry[].resource` are the resources; each resource's
type comes from its own `resourceType` and it is read by the same spec as in
NDJSON. `_source_line` is the entry's 1-based position in the Bundle (1 for a single
resource). A Bundle entry without a `resource` (a request or response only) holds no
record and is passed over; a nested Bundle is a type like any other (counted and
skipped). A file that is not one JSON object with a `resourceType`, or a Bundle entry
whose `resource` is not one, fails the batch.

Quarantined: no `id`; no patient reference where the resource needs one; an
unreadable date or instant; a `gender`, Consent `status`, `provision.type` or
consent-kind code outside its code set; a birth date after the batch's
`received_at`; a death before the birth.
"""

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.ingest.conform import Check, Chunk, Field, Kind, Partial, ReadContext
from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.formats import iter_lines
from pipelines.lib.ingest.specs import JsonSpec, read_json_spec

logger = logging.getLogger(__name__)

KIND_SYSTEM = "https://clearlist.dev/fhir/CodeSystem/consent-kind"
ALT_CONTACT_URL = "https://clearlist.dev/fhir/StructureDefinition/alternative-contact"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"

GENDERS = frozenset({"male", "female", "other", "unknown"})
CONSENT_STATUSES = frozenset(
    {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
)
CONSENT_KINDS = frozenset(
    {"restriction", "confidential-communication", "part2-consent"}
)
PROVISION_TYPES = frozenset({"permit", "deny"})
REPRESENTATIVE_CODES = ("MTH", "FTH", "PRN", "GUARD", "POWATT", "HPOWATT", "EXEC")

V = "VARCHAR"
_CODEABLE = {"coding": [{"system": V, "code": V, "display": V}], "text": V}
_REFERENCE = {"reference": V, "display": V}
_PERIOD = {"start": V, "end": V}
_COMMON_STRUCTURE = {
    "resourceType": V,
    "id": V,
    "meta": {"versionId": V, "lastUpdated": V, "security": [{"code": V}]},
}
_LEADING_NAME = re.compile(r"^([A-Za-z]+)")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]*$")
BUNDLE = "Bundle"
JSON_EXPECTED = (
    "expected one FHIR R4 resource or a Bundle: a JSON object with a resourceType"
)


def _ref(expr: str, target: str) -> str:
    """SQL: the bare id of a reference to `target` (`<target>/<id>` or a urn:uuid)."""
    return (
        f"coalesce(nullif(regexp_extract({expr}, '(?:^|/){target}/([^/?#]+)', 1), ''),"
        f" nullif(regexp_extract({expr}, '^urn:uuid:(.+)$', 1), ''))"
    )


def _codes(concepts: str) -> str:
    """SQL: every code of a list of CodeableConcepts."""
    return (
        "flatten([[c.code for c in x.coding if c.code is not null]"
        f" for x in {concepts}])"
    )


def _joined(items: str) -> str:
    return f"nullif(array_to_string({items}, ';'), '')"


def _coded(concept: str) -> dict[str, str]:
    """SQL: code_system, code and display of a CodeableConcept's first coding."""
    return {
        "code_system": f"{concept}.coding[1].system",
        "code": f"{concept}.coding[1].code",
        "display": f"coalesce({concept}.coding[1].display, {concept}.text)",
    }


_CODED_FIELDS = (
    Field("code_system", "code.coding.system"),
    Field("code", "code.coding.code"),
    Field("display", "code.coding.display"),
)


def _instant(name: str, label: str) -> Field:
    return Field(name, label, Kind.TIMESTAMP, partial=Partial.START)


def _resource(
    resource_type: str,
    table: str,
    key: str,
    *,
    structure: dict[str, object],
    columns: dict[str, str],
    fields: tuple[Field, ...],
    lets: dict[str, str] | None = None,
    checks: tuple[Check, ...] = (),
    record_at: str = "last_updated_at",
) -> JsonSpec:
    """The spec of one resource type, with what every resource carries."""
    return JsonSpec(
        table=table,
        key=key,
        structure={**_COMMON_STRUCTURE, **structure},
        columns={
            key: "r.id",
            "resource_type": "r.resourceType",
            "version_id": "r.meta.versionId",
            "last_updated_at": "r.meta.lastUpdated",
            "security_labels": _joined(
                "[s.code for s in r.meta.security if s.code is not null]"
            ),
            **columns,
        },
        fields=(
            Field(key, "id", required=True),
            Field("version_id", "meta.versionId"),
            Field("last_updated_at", "meta.lastUpdated", Kind.TIMESTAMP),
            Field("security_labels", "meta.security"),
            *fields,
        ),
        lets=lets or {},
        checks=(
            Check(
                pl.col("resource_type").is_null()
                | (pl.col("resource_type") != resource_type),
                f"resourceType is not {resource_type}",
            ),
            *checks,
        ),
        record_at=pl.coalesce(pl.col(record_at), pl.col("last_updated_at")),
    )


def _clinical(
    resource_type: str,
    table: str,
    key: str,
    *,
    subject: str,
    structure: dict[str, object],
    columns: dict[str, str],
    fields: tuple[Field, ...],
    lets: dict[str, str] | None = None,
) -> JsonSpec:
    """A clinical resource: it must name its patient; the encounter is optional."""
    encounter = resource_type != "Encounter"
    return _resource(
        resource_type,
        table,
        key,
        structure={subject: _REFERENCE, "encounter": _REFERENCE, **structure},
        columns={
            "patient_id": _ref(f"r.{subject}.reference", "Patient"),
            **(
                {"encounter_id": _ref("r.encounter.reference", "Encounter")}
                if encounter
                else {}
            ),
            **columns,
        },
        fields=(
            Field("patient_id", f"{subject}.reference", required=True),
            *((Field("encounter_id", "encounter.reference"),) if encounter else ()),
            *fields,
        ),
        lets=lets,
    )


def _telecom(condition: str) -> str:
    current = "coalesce(t.use, '') <> 'old'"
    return (
        f"coalesce([t.value for t in r.telecom if ({condition}) and {current}"
        f' and t.period."end" is null][1],'
        f" [t.value for t in r.telecom if ({condition}) and {current}][1])"
    )


_PATIENT = _resource(
    "Patient",
    "ehr_patients",
    "patient_id",
    structure={
        "identifier": [{"type": {"coding": [{"code": V}]}, "value": V}],
        "name": [{"use": V, "family": V, "given": [V], "text": V}],
        "telecom": [{"system": V, "value": V, "use": V, "period": _PERIOD}],
        "gender": V,
        "birthDate": V,
        "deceasedBoolean": V,
        "deceasedDateTime": V,
        "address": [
            {
                "use": V,
                "line": [V],
                "city": V,
                "state": V,
                "postalCode": V,
                "period": _PERIOD,
            }
        ],
        "communication": [{"language": _CODEABLE, "preferred": V}],
    },
    lets={
        "nm": "coalesce([n for n in r.name if n.use = 'official'][1],"
        " [n for n in r.name if coalesce(n.use, '') not in ('old', 'maiden')][1],"
        " r.name[1])",
        "ad": "coalesce([a for a in r.address if coalesce(a.use, 'home') = 'home'"
        ' and a.period."end" is null][1],'
        " [a for a in r.address if coalesce(a.use, '') <> 'old'"
        ' and a.period."end" is null][1],'
        " [a for a in r.address if coalesce(a.use, '') <> 'old'][1], r.address[1])",
        "lang": "coalesce([c for c in r.communication if c.preferred = 'true'][1],"
        " r.communication[1]).language",
    },
    columns={
        "mrn": "[i.value for i in r.identifier"
        " if list_contains([c.code for c in i.type.coding], 'MR')][1]",
        "family_name": "nm.family",
        "given_name": "nullif(array_to_string(nm.given, ' '), '')",
        "gender": "r.gender",
        "birth_date": "r.birthDate",
        "address_line": "nullif(array_to_string(ad.line, ', '), '')",
        "address_city": "ad.city",
        "address_state": "ad.state",
        "address_postal_code": "ad.postalCode",
        "email": _telecom("t.system = 'email'"),
        "mobile_phone": _telecom(
            "t.system = 'sms' or (t.system = 'phone' and t.use = 'mobile')"
        ),
        "home_phone": _telecom("t.system = 'phone' and t.use = 'home'"),
        "language": "coalesce(lang.coding[1].code, lang.text)",
        "is_deceased": "coalesce(case when r.deceasedDateTime is not null"
        " then 'true' end, r.deceasedBoolean)",
        "deceased_at": "r.deceasedDateTime",
    },
    fields=(
        Field("mrn", "identifier.value"),
        Field("family_name", "name.family"),
        Field("given_name", "name.given"),
        Field("gender", "gender", codes=GENDERS),
        Field("birth_date", "birthDate", Kind.DATE, partial=Partial.END),
        Field("address_line", "address.line"),
        Field("address_city", "address.city"),
        Field("address_state", "address.state"),
        Field("address_postal_code", "address.postalCode"),
        Field("email", "telecom.value"),
        Field("mobile_phone", "telecom.value"),
        Field("home_phone", "telecom.value"),
        Field("language", "communication.language"),
        Field("is_deceased", "deceasedBoolean", Kind.BOOL),
        _instant("deceased_at", "deceasedDateTime"),
    ),
    checks=(
        Check(
            pl.col("birth_date") > pl.col("_received_at").dt.date(),
            "birthDate is after the batch's received_at",
        ),
        Check(
            pl.col("deceased_at").dt.date() < pl.col("birth_date"),
            "deceasedDateTime is before birthDate",
        ),
    ),
)

_RELATED_PERSON = _resource(
    "RelatedPerson",
    "ehr_related_persons",
    "related_person_id",
    structure={
        "patient": _REFERENCE,
        "relationship": [_CODEABLE],
        "name": [{"family": V, "given": [V], "text": V}],
        "period": _PERIOD,
    },
    lets={"codes": _codes("r.relationship")},
    columns={
        "patient_id": _ref("r.patient.reference", "Patient"),
        "relationship_code": "coalesce([c for c in codes if c in"
        f" ({', '.join(repr(code) for code in REPRESENTATIVE_CODES)})][1], codes[1])",
        "name": "coalesce(r.name[1].text, nullif(concat_ws(' ',"
        " array_to_string(r.name[1].given, ' '), r.name[1].family), ''))",
        "period_start_at": "r.period.start",
        "period_end_at": 'r.period."end"',
    },
    fields=(
        Field("patient_id", "patient.reference", required=True),
        Field("relationship_code", "relationship.coding.code"),
        Field("name", "name"),
        _instant("period_start_at", "period.start"),
        _instant("period_end_at", "period.end"),
    ),
)

_CONDITION = _clinical(
    "Condition",
    "ehr_conditions",
    "condition_id",
    subject="subject",
    structure={
        "code": _CODEABLE,
        "clinicalStatus": _CODEABLE,
        "onsetDateTime": V,
        "onsetPeriod": _PERIOD,
        "abatementDateTime": V,
        "abatementPeriod": _PERIOD,
        "recordedDate": V,
    },
    columns={
        **_coded("r.code"),
        "clinical_status": "r.clinicalStatus.coding[1].code",
        "onset_at": "coalesce(r.onsetDateTime, r.onsetPeriod.start)",
        "abatement_at": "coalesce(r.abatementDateTime, r.abatementPeriod.start)",
        "recorded_at": "r.recordedDate",
    },
    fields=(
        *_CODED_FIELDS,
        Field("clinical_status", "clinicalStatus"),
        _instant("onset_at", "onsetDateTime"),
        _instant("abatement_at", "abatementDateTime"),
        _instant("recorded_at", "recordedDate"),
    ),
)

_ENCOUNTER = _clinical(
    "Encounter",
    "ehr_encounters",
    "encounter_id",
    subject="subject",
    structure={
        "status": V,
        "class": {"code": V},
        "type": [_CODEABLE],
        "serviceType": _CODEABLE,
        "participant": [{"type": [_CODEABLE], "individual": _REFERENCE}],
        "period": _PERIOD,
    },
    lets={
        "clinician": "coalesce([p for p in r.participant if list_has_any("
        f"{_codes('p.type')}, ['PPRF', 'ATND', 'PART'])][1],"
        " r.participant[1]).individual.reference",
    },
    columns={
        "status": "r.status",
        "class_code": "r.class.code",
        "type_code": "r.type[1].coding[1].code",
        "type_display": "coalesce(r.type[1].coding[1].display, r.type[1].text)",
        "service_type_code": "r.serviceType.coding[1].code",
        "service_type_display": "coalesce(r.serviceType.coding[1].display,"
        " r.serviceType.text)",
        "practitioner_id": f"coalesce({_ref('clinician', 'Practitioner')},"
        " nullif(regexp_extract(clinician,"
        " '^Practitioner\\?identifier=(?:[^|]*\\|)?(.+)$', 1), ''))",
        "period_start_at": "r.period.start",
        "period_end_at": 'r.period."end"',
    },
    fields=(
        Field("status", "status"),
        Field("class_code", "class.code"),
        Field("type_code", "type.coding.code"),
        Field("type_display", "type.coding.display"),
        Field("service_type_code", "serviceType.coding.code"),
        Field("service_type_display", "serviceType.coding.display"),
        Field("practitioner_id", "participant.individual.reference"),
        _instant("period_start_at", "period.start"),
        _instant("period_end_at", "period.end"),
    ),
)

_PROCEDURE = _clinical(
    "Procedure",
    "ehr_procedures",
    "procedure_id",
    subject="subject",
    structure={
        "code": _CODEABLE,
        "status": V,
        "performedDateTime": V,
        "performedPeriod": _PERIOD,
    },
    columns={
        **_coded("r.code"),
        "status": "r.status",
        "performed_at": "coalesce(r.performedDateTime, r.performedPeriod.start)",
    },
    fields=(
        *_CODED_FIELDS,
        Field("status", "status"),
        _instant("performed_at", "performedDateTime"),
    ),
)

_MEDICATION_REQUEST = _clinical(
    "MedicationRequest",
    "ehr_medication_requests",
    "medication_request_id",
    subject="subject",
    structure={
        "medicationCodeableConcept": _CODEABLE,
        "medicationReference": _REFERENCE,
        "status": V,
        "authoredOn": V,
        "dispenseRequest": {"validityPeriod": _PERIOD},
    },
    columns={
        **_coded("r.medicationCodeableConcept"),
        "display": "coalesce(r.medicationCodeableConcept.coding[1].display,"
        " r.medicationCodeableConcept.text, r.medicationReference.display)",
        "status": "r.status",
        "authored_at": "r.authoredOn",
        "validity_start_at": "r.dispenseRequest.validityPeriod.start",
        "validity_end_at": 'r.dispenseRequest.validityPeriod."end"',
    },
    fields=(
        Field("code_system", "medicationCodeableConcept.coding.system"),
        Field("code", "medicationCodeableConcept.coding.code"),
        Field("display", "medicationCodeableConcept.coding.display"),
        Field("status", "status"),
        _instant("authored_at", "authoredOn"),
        _instant("validity_start_at", "dispenseRequest.validityPeriod.start"),
        _instant("validity_end_at", "dispenseRequest.validityPeriod.end"),
    ),
)

_IMMUNIZATION = _clinical(
    "Immunization",
    "ehr_immunizations",
    "immunization_id",
    subject="patient",
    structure={"vaccineCode": _CODEABLE, "status": V, "occurrenceDateTime": V},
    columns={
        **_coded("r.vaccineCode"),
        "status": "r.status",
        "occurred_at": "r.occurrenceDateTime",
    },
    fields=(
        Field("code_system", "vaccineCode.coding.system"),
        Field("code", "vaccineCode.coding.code"),
        Field("display", "vaccineCode.coding.display"),
        Field("status", "status"),
        _instant("occurred_at", "occurrenceDateTime"),
    ),
)

_OBSERVATION = _clinical(
    "Observation",
    "ehr_observations",
    "observation_id",
    subject="subject",
    structure={
        "code": _CODEABLE,
        "status": V,
        "valueQuantity": {"value": V, "unit": V, "code": V},
        "valueInteger": V,
        "valueString": V,
        "valueBoolean": V,
        "valueCodeableConcept": _CODEABLE,
        "effectiveDateTime": V,
        "effectiveInstant": V,
        "effectivePeriod": _PERIOD,
    },
    columns={
        **_coded("r.code"),
        "status": "r.status",
        "value_number": "coalesce(r.valueQuantity.value, r.valueInteger)",
        "value_unit": "coalesce(r.valueQuantity.unit, r.valueQuantity.code)",
        "value_text": "coalesce(r.valueString,"
        " r.valueCodeableConcept.coding[1].display, r.valueCodeableConcept.text,"
        " r.valueCodeableConcept.coding[1].code, r.valueBoolean)",
        "effective_at": "coalesce(r.effectiveDateTime, r.effectiveInstant,"
        " r.effectivePeriod.start)",
    },
    fields=(
        *_CODED_FIELDS,
        Field("status", "status"),
        Field("value_number", "valueQuantity.value", Kind.NUMBER),
        Field("value_unit", "valueQuantity.unit"),
        Field("value_text", "valueString"),
        _instant("effective_at", "effectiveDateTime"),
    ),
)

_ADDRESS = {"text": V, "line": [V], "city": V, "state": V, "postalCode": V}
_CONSENT = _resource(
    "Consent",
    "ehr_consents",
    "consent_id",
    structure={
        "status": V,
        "scope": _CODEABLE,
        "category": [_CODEABLE],
        "patient": _REFERENCE,
        "dateTime": V,
        "provision": {
            "type": V,
            "period": _PERIOD,
            "actor": [{"reference": _REFERENCE}],
            "action": [_CODEABLE],
            "purpose": [{"system": V, "code": V}],
            "code": [_CODEABLE],
        },
        "extension": [
            {
                "url": V,
                "valueContactPoint": {"system": V, "value": V},
                "valueAddress": _ADDRESS,
            }
        ],
    },
    lets={
        "alt": f"[e for e in r.extension if e.url = '{ALT_CONTACT_URL}'][1]",
    },
    columns={
        "patient_id": _ref("r.patient.reference", "Patient"),
        "status": "r.status",
        "scope_code": f"coalesce([c.code for c in r.scope.coding"
        f" if c.system = '{CONSENT_SCOPE}'][1], r.scope.coding[1].code)",
        "kind": "flatten([[c.code for c in x.coding"
        f" if c.system = '{KIND_SYSTEM}'] for x in r.category])[1]",
        "provision_type": "r.provision.type",
        "purposes": _joined(
            "[case when coalesce(p.system, '') in ('', "
            f"'{V3_ACT_REASON}') and p.code = 'HMARKT' then 'MARKETING'"
            f" when coalesce(p.system, '') in ('', '{V3_ACT_REASON}')"
            " and p.code = 'TREAT' then 'TREATMENT' else p.code end"
            " for p in r.provision.purpose if p.code is not null]"
        ),
        "actions": _joined(_codes("r.provision.action")),
        "actors": _joined(
            "[a.reference.display for a in r.provision.actor"
            " if a.reference.display is not null]"
        ),
        "service_codes": _joined(_codes("r.provision.code")),
        "period_start_at": "r.provision.period.start",
        "period_end_at": 'r.provision.period."end"',
        "agreed_at": "r.dateTime",
        "alt_contact_system": "coalesce(alt.valueContactPoint.system,"
        " case when alt.valueAddress is not null then 'address' end)",
        "alt_contact_value": "coalesce(alt.valueContactPoint.value,"
        " alt.valueAddress.text, nullif(concat_ws(', ',"
        " nullif(array_to_string(alt.valueAddress.line, ', '), ''),"
        " alt.valueAddress.city), ''))",
        "alt_address_state": "alt.valueAddress.state",
        "alt_address_postal_code": "alt.valueAddress.postalCode",
    },
    fields=(
        Field("patient_id", "patient.reference", required=True),
        Field("status", "status", required=True, codes=CONSENT_STATUSES),
        Field("scope_code", "scope.coding.code"),
        Field("kind", "category.coding.code", codes=CONSENT_KINDS),
        Field("provision_type", "provision.type", codes=PROVISION_TYPES),
        Field("purposes", "provision.purpose", Kind.LIST),
        Field("actions", "provision.action", Kind.LIST),
        Field("actors", "provision.actor.reference.display", Kind.LIST),
        Field("service_codes", "provision.code", Kind.LIST),
        _instant("period_start_at", "provision.period.start"),
        _instant("period_end_at", "provision.period.end"),
        _instant("agreed_at", "dateTime"),
        Field("alt_contact_system", "extension.valueContactPoint.system"),
        Field("alt_contact_value", "extension.valueContactPoint.value"),
        Field("alt_address_state", "extension.valueAddress.state"),
        Field("alt_address_postal_code", "extension.valueAddress.postalCode"),
    ),
    record_at="agreed_at",
)

RESOURCES: dict[str, JsonSpec] = {
    "Patient": _PATIENT,
    "RelatedPerson": _RELATED_PERSON,
    "Condition": _CONDITION,
    "Encounter": _ENCOUNTER,
    "Procedure": _PROCEDURE,
    "MedicationRequest": _MEDICATION_REQUEST,
    "Immunization": _IMMUNIZATION,
    "Observation": _OBSERVATION,
    "Consent": _CONSENT,
}
"""The resource types read, by name; every other type is counted and skipped."""


def resource_type_of(file_name: str) -> str:
    """Return the resource type a bulk file is named after.

    The type is the leading run of letters: `Patient.ndjson`, `Patient.000.ndjson`
    and `Patient1.ndjson` are all `Patient`. A read type matches in any case.

    >>> resource_type_of("Patient1.ndjson"), resource_type_of("condition.2.ndjson")
    ('Patient', 'Condition')
    """
    match = _LEADING_NAME.match(file_name)
    name = match.group(1) if match else file_name
    by_lower = {known.lower(): known for known in RESOURCES}
    return by_lower.get(name.lower(), name)


def read_resources(
    path: Path, rel: str, resource_type: str, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read one NDJSON file of `resource_type` into its raw table, in chunks.

    Raises:
        IngestError: A line is not a JSON object, or the file is not UTF-8.
    """
    return read_json_spec(iter_lines(path, rel), rel, RESOURCES[resource_type], ctx)


def json_resource_counts(path: Path, rel: str) -> dict[str, int]:
    """Count the resources of a FHIR JSON file per resource type.

    An empty Bundle counts as no resources.

    Raises:
        IngestError: The file is not one FHIR resource or a Bundle of them.
    """
    types = read_json_file(path, rel)["resource_type"].to_pylist()
    return dict(sorted(Counter(types).items()))


def count_json_resources(path: Path, rel: str, resource_type: str) -> int:
    """Count the resources of one type in a FHIR JSON file.

    Raises:
        IngestError: The file is not one FHIR resource or a Bundle of them.
    """
    return json_resource_counts(path, rel).get(resource_type, 0)


def read_json_resources(
    path: Path, rel: str, resource_type: str, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read the resources of `resource_type` in a FHIR JSON file into its raw table.

    Raises:
        IngestError: The file is not one FHIR resource or a Bundle of them.
    """
    resources = read_json_file(path, rel)
    lines = resources.filter(pc.equal(resources["resource_type"], resource_type))
    chunks = iter([lines.select(["line_no", "line"])])
    return read_json_spec(chunks, rel, RESOURCES[resource_type], ctx)


def read_json_file(path: Path, rel: str) -> pa.Table:
    """Return the resources of a FHIR JSON file: one resource, or a Bundle's entries.

    The file must be strict JSON (RFC 8259): Python's parser reads it, since
    DuckDB's accepts trailing commas, `NaN` and `Infinity`.

    Note:
        The file is read whole: EHRs write single resources and Bundles of one
        patient or one page, not bulk exports (those are NDJSON).

    Returns:
        `(line_no, resource_type, line)`: each resource as JSON text, numbered by
        its 1-based position in the Bundle's `entry` (1 for a single resource).

    Raises:
        IngestError: The file is not UTF-8 JSON, not an object with a resourceType,
            or a Bundle entry's `resource` is not one.
    """
    try:
        doc = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(f"is not UTF-8 text; {JSON_EXPECTED}", file=rel) from None
    try:
        value = json.loads(doc, parse_constant=_not_strict_json)
    except ValueError:
        msg = f"does not parse as strict JSON; {JSON_EXPECTED}"
        raise IngestError(msg, file=rel) from None
    resource_type = _resource_type(value)
    if resource_type is None:
        raise IngestError(f"is not a FHIR resource; {JSON_EXPECTED}", file=rel)
    if resource_type != BUNDLE:
        return _resource_table([1], [resource_type], [doc.strip()])
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        msg = f"is a Bundle whose entry is not an array; {JSON_EXPECTED}"
        raise IngestError(msg, file=rel)
    numbers, types, lines = [], [], []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            msg = f"Bundle entry {number} is not a JSON object; {JSON_EXPECTED}"
            raise IngestError(msg, file=rel)
        if "resource" not in entry:
            continue
        entry_type = _resource_type(entry["resource"])
        if entry_type is None:
            msg = (
                f"Bundle entry {number} holds a resource that is not a FHIR resource;"
                f" {JSON_EXPECTED}"
            )
            raise IngestError(msg, file=rel)
        numbers.append(number)
        types.append(entry_type)
        lines.append(json.dumps(entry["resource"], ensure_ascii=False))
    if len(numbers) < len(entries):
        logger.info(
            "%s: %d Bundle entries hold no resource; passed over",
            rel,
            len(entries) - len(numbers),
        )
    return _resource_table(numbers, types, lines)


def _not_strict_json(constant: str) -> object:
    """Refuse the `NaN` and `Infinity` that Python's JSON parser allows."""
    msg = f"{constant} is not JSON"
    raise ValueError(msg)


def _resource_type(value: object) -> str | None:
    """The `resourceType` of a JSON value that is a FHIR resource, else None."""
    if not isinstance(value, dict):
        return None
    name = value.get("resourceType")
    if not isinstance(name, str) or not _RESOURCE_TYPE.match(name):
        return None
    return name


def _resource_table(numbers: list[int], types: list[str], lines: list[str]) -> pa.Table:
    return pa.table(
        {
            "line_no": pa.array(numbers, pa.int64()),
            "resource_type": pa.array(types, pa.string()),
            "line": pa.array(lines, pa.string()),
        }
    )
