"""Property tests of the readers: valid files, randomly damaged, then really ingested.

Each example takes a small valid file of one format, applies random damage (a
required field blanked, a date or a boolean replaced by junk, an unknown code, a
line cut short or replaced, a stray quote, a BOM, CRLF line ends, blank lines,
header case, unknown or reordered columns...) and ingests it with `ingest_source`.
Whatever the damage:

- nothing but `IngestError` escapes, and an `IngestError` names the file, says what
  was expected, quotes no value and leaves nothing of the batch in raw;
- damage that makes the file unreadable fails the batch; damage to rows only never
  does;
- when the batch loads, every undamaged row (and every row changed only in ways the
  contract allows) is in its raw table at its line, every row with a value the
  contract forbids is quarantined, every quarantine reason is non-empty and quotes
  no value, and rows loaded + quarantined = records in the file.
"""

import copy
import csv
import io
import itertools
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.lib.ingest import IngestError, ingest_source
from tests.lib.ingest.landing_files import (
    app_event,
    authorization_consent,
    contact,
    contact_point_consent,
    fhir_condition,
    fhir_consent,
    fhir_patient,
    personal_values,
    sendgrid_event,
    synthea_condition,
    synthea_patient,
    twilio_message,
    write_batch,
)

ROWS = 6
DELETE = object()
"""As an edit's value: remove the field from the JSON object."""

Path_ = tuple[str | int, ...]

# ---------------------------------------------------------------- the readers


@dataclass(frozen=True)
class Reader:
    """One format a reader takes, and which of its fields the contract checks.

    Attributes:
        source: The landing source.
        rel: The file inside the batch.
        table: The raw table.
        layout: `ndjson`, `json` (one array) or `csv`.
        record: Builds valid record `n` with a tag.
        key: The raw key column and how to get it from a record; None when the
            reader derives the key itself.
        required: Fields whose absence quarantines the row.
        times: Date or time fields: junk there quarantines the row.
        flags: Boolean fields: junk there quarantines the row.
        codes: Fields with a closed code set: an unknown code quarantines the row.
        variants: Other valid values of a field; the row still loads.
        header: CSV columns the header must have (dropping one fails the file).
    """

    source: str
    rel: str
    table: str
    layout: str
    record: Callable[[int, str], dict]
    key: tuple[str, Callable[[dict], str]] | None
    required: tuple[Path_, ...]
    times: tuple[Path_, ...] = ()
    flags: tuple[Path_, ...] = ()
    codes: tuple[Path_, ...] = ()
    variants: dict[Path_, tuple[object, ...]] = field(default_factory=dict)
    header: tuple[str, ...] = ()


SF_TIMES = (
    "2026-01-02T03:04:05.000+0000",
    "2026-01-02T03:04:05Z",
    "2026-01-02 03:04:05",
    "2026-01-02",
)
SF_CHECKBOXES = ("TRUE", "FALSE", "true", "false", "True", "")
EPOCHS = (
    1775508453,
    "1775508453",
    1775508453123,
    1775508453.25,
    "2026-04-06T10:00:00Z",
    "2026-04-06T10:00:00.5+02:00",
)
FHIR_TIMES = ("2026-04-01T10:00:00.123+02:00", "2026-04-01", "2026-04-01T10:00:00")


def _id(field_name: str) -> Callable[[dict], str]:
    return lambda record: record[field_name]


READERS = {
    "fhir Patient": Reader(
        "ehr",
        "Patient.ndjson",
        "ehr_patients",
        "ndjson",
        fhir_patient,
        ("patient_id", _id("id")),
        required=(("id",),),
        times=(("birthDate",), ("meta", "lastUpdated"), ("deceasedDateTime",)),
        flags=(("deceasedBoolean",),),
        codes=(("gender",), ("resourceType",)),
        variants={
            ("birthDate",): ("1970", "1970-05", "1970-05-06"),
            ("gender",): ("male", "female", "other", "unknown"),
            ("deceasedBoolean",): (True, False, "true", "FALSE", None),
            ("meta", "lastUpdated"): FHIR_TIMES,
            ("meta", "versionId"): ("7", 7, None),
        },
    ),
    "fhir Consent": Reader(
        "ehr",
        "Consent.ndjson",
        "ehr_consents",
        "ndjson",
        fhir_consent,
        ("consent_id", _id("id")),
        required=(("id",), ("patient", "reference"), ("status",)),
        times=(
            ("dateTime",),
            ("provision", "period", "start"),
            ("meta", "lastUpdated"),
        ),
        codes=(
            ("status",),
            ("provision", "type"),
            ("category", 0, "coding", 0, "code"),
            ("resourceType",),
        ),
        variants={
            ("provision", "purpose", 0, "code"): ("HMARKT", "TREAT", "PROMOTIONS"),
            ("dateTime",): ("2026-04", "2026", *FHIR_TIMES),
            ("status",): ("inactive", "draft"),
        },
    ),
    "fhir Condition": Reader(
        "ehr",
        "Condition.ndjson",
        "ehr_conditions",
        "ndjson",
        fhir_condition,
        ("condition_id", _id("id")),
        required=(("id",), ("subject", "reference")),
        times=(("onsetDateTime",), ("recordedDate",), ("meta", "lastUpdated")),
        codes=(("resourceType",),),
        variants={("onsetDateTime",): ("2019", "2019-03", *FHIR_TIMES)},
    ),
    "salesforce Contact": Reader(
        "crm",
        "Contact.csv",
        "crm_contacts",
        "csv",
        contact,
        ("contact_id", _id("Id")),
        required=(("Id",), ("LastModifiedDate",)),
        times=(("Birthdate",), ("LastModifiedDate",)),
        flags=(
            ("IsDeleted",),
            ("HasOptedOutOfEmail",),
            ("DoNotCall",),
            ("EmailVerified__c",),
        ),
        variants={
            ("LastModifiedDate",): SF_TIMES,
            ("HasOptedOutOfEmail",): SF_CHECKBOXES,
            ("IsDeleted",): SF_CHECKBOXES,
            ("MailingStreet",): (
                "12 Elm St, Apt 3",
                'The "Old" Mill',
                "1 Main St\nUnit 4",
            ),
            ("Birthdate",): ("", "1970-01-01"),
        },
        header=(
            "Id",
            "IsDeleted",
            "LastModifiedDate",
            "HasOptedOutOfEmail",
            "DoNotCall",
        ),
    ),
    "salesforce ContactPointTypeConsent": Reader(
        "crm",
        "ContactPointTypeConsent.csv",
        "crm_contact_point_consents",
        "csv",
        contact_point_consent,
        ("contact_point_consent_id", _id("Id")),
        required=(
            ("Id",),
            ("LastModifiedDate",),
            ("PartyId",),
            ("ContactPointType",),
            ("DataUsePurpose",),
            ("PrivacyConsentStatus",),
        ),
        times=(("EffectiveFrom",), ("EffectiveTo",), ("CaptureDate",)),
        flags=(("IsDeleted",),),
        codes=(("ContactPointType",), ("PrivacyConsentStatus",)),
        variants={
            ("CaptureDate",): SF_TIMES,
            ("DataUsePurpose",): ("FUNDRAISING", "SOMETHING_NEW"),
            ("ContactPointType",): ("Email", "Phone", "MailingAddress"),
        },
        header=tuple(contact_point_consent(0)),
    ),
    "salesforce AuthorizationFormConsent": Reader(
        "crm",
        "AuthorizationFormConsent.csv",
        "crm_authorization_form_consents",
        "csv",
        authorization_consent,
        ("authorization_form_consent_id", _id("Id")),
        required=(
            ("Id",),
            ("LastModifiedDate",),
            ("ConsentGiverId",),
            ("AuthorizationFormTextId",),
            ("Status",),
        ),
        times=(
            ("ConsentCapturedDateTime",),
            ("ExpirationDateTime__c",),
            ("ExpirationEventOccurredAt__c",),
            ("RevokedDateTime__c",),
        ),
        flags=(("RemunerationDisclosed__c",), ("RevocationWritten__c",)),
        codes=(("Status",), ("SignerRole__c",), ("SignatureMethod__c",)),
        variants={
            ("Purposes__c",): (
                "MARKETING:wellness-program",
                " MARKETING ; ;HEALTH_ED ",
                "PROMOTIONS",
            ),
            ("Channels__c",): ("email", "carrier-pigeon", ""),
            ("ExpirationDateTime__c",): SF_TIMES,
            ("SignerRole__c",): ("Parent", "Guardian", ""),
        },
        header=tuple(authorization_consent(0)),
    ),
    "synthea patients": Reader(
        "ehr",
        "patients.csv",
        "ehr_patients",
        "csv",
        synthea_patient,
        ("patient_id", _id("Id")),
        required=(("Id",), ("BIRTHDATE",)),
        times=(("BIRTHDATE",), ("DEATHDATE",)),
        codes=(("GENDER",),),
        variants={("GENDER",): ("M", "F", "female"), ("MIDDLE",): ("Anne",)},
        header=("Id", "BIRTHDATE", "DEATHDATE", "GENDER", "ADDRESS"),
    ),
    "synthea conditions": Reader(
        "ehr",
        "conditions.csv",
        "ehr_conditions",
        "csv",
        synthea_condition,
        None,
        required=(("PATIENT",),),
        times=(("START",), ("STOP",)),
        variants={("STOP",): ("2025-01-01",), ("START",): ("2012-01-01T10:00:00Z",)},
        header=("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION"),
    ),
    "sendgrid jsonl": Reader(
        "engagement",
        "sendgrid/events.jsonl",
        "esp_sendgrid_events",
        "ndjson",
        sendgrid_event,
        ("sg_event_id", _id("sg_event_id")),
        required=(("sg_event_id",), ("event",), ("email",), ("timestamp",)),
        times=(("timestamp",),),
        flags=(("sg_machine_open",),),
        codes=(("event",),),
        variants={
            ("event",): ("Delivered", "OPEN", "group_unsubscribe"),
            ("timestamp",): EPOCHS,
            ("category",): ("single", [], ["a", "b"], None),
            ("asm_group_id",): (4101, "4101", None),
        },
    ),
    "sendgrid post": Reader(
        "engagement",
        "sendgrid/post.json",
        "esp_sendgrid_events",
        "json",
        sendgrid_event,
        ("sg_event_id", _id("sg_event_id")),
        required=(("sg_event_id",), ("event",), ("email",), ("timestamp",)),
        times=(("timestamp",),),
        flags=(("sg_machine_open",),),
        codes=(("event",),),
        variants={
            ("event",): ("Bounce", "spamreport"),
            ("timestamp",): EPOCHS,
            ("sg_machine_open",): (True, "true", None),
        },
    ),
    "twilio": Reader(
        "engagement",
        "twilio/messages.jsonl",
        "sms_twilio_messages",
        "ndjson",
        twilio_message,
        ("message_sid", _id("MessageSid")),
        required=(("MessageSid",), ("received_at",)),
        times=(("received_at",),),
        codes=(("MessageStatus",), ("OptOutType",)),
        variants={
            ("MessageStatus",): ("Delivered", "sent", "UNDELIVERED"),
            ("received_at",): (1779000000, "2026-05-16T17:33:08.123+00:00"),
        },
    ),
    "app events": Reader(
        "engagement",
        "app/events.jsonl",
        "app_events",
        "ndjson",
        app_event,
        ("event_id", _id("event_id")),
        required=(("event_id",), ("type",), ("occurred_at",)),
        times=(("occurred_at",),),
        codes=(("type",),),
        variants={
            ("properties",): (None, 5, "text", [1, 2], {"nested": {"a": [1]}}),
            ("occurred_at",): (1755707631, "2025-08-20T16:33:51Z", "2025-08-20"),
        },
    ),
}

# ---------------------------------------------------------------- damage

TIME_JUNK = (
    "2024-13-01",
    "2024-02-30",
    "31/12/2024",
    "May 3, 2024",
    "yesterday",
    "2024-01-01T25:00:00Z",
    "--",
    "NaN",
    "+inf",
    "1e400",
    "0000-00-00",
    "2024-1-5",
)
JSON_TIME_JUNK = (-5, 1e15, True, [2024, 1, 1], {"year": 2024})
FLAG_JUNK = ("yes", "no", "1", "0", "Y", "maybe", "tru", "FALSEY", "on")
JSON_FLAG_JUNK = (1, 0, [True], {"value": True})
CODE_JUNK = ("zq-bogus-code", "Zq Other", "UNKNOWN_VALUE", "N/A")
CSV_BLANKS = ("", "   ")
JSON_BLANKS = (DELETE, None, "", "   ")
WRONG_TYPES = (12345, [1, "x"], {"a": 1}, True, None, "text")
EXTRA_VALUES = ("plain", "with, comma", 'with "quotes"', "", "multi\nline")
NDJSON_JUNK_LINES = (
    "[1, 2]",
    '"just text"',
    "null",
    "42",
    "true",
    '{"unterminated": ',
    "not json at all",
    "{'single': 'quotes'}",
    '{"a": 1}}',
)
NOT_OBJECTS = ("42", '"text"', "null", "[1]", "true")

ROW_KINDS = {"blank", "time", "flag", "code"}
"""Row edits that put a value the contract forbids: the row is quarantined."""


@dataclass(frozen=True)
class Edit:
    """One change to one record."""

    row: int
    kind: str
    path: Path_
    value: object


@dataclass(frozen=True)
class LineEdit:
    """One change to the text of a rendered record (or a new line before it)."""

    row: int
    kind: str
    arg: object = None


@dataclass(frozen=True)
class Damage:
    """Everything done to one valid file."""

    edits: tuple[Edit, ...] = ()
    line: LineEdit | None = None
    bom: bool = False
    crlf: bool = False
    final_newline: bool = True
    indent: str = ""
    blank_lines: tuple[tuple[int, str], ...] = ()
    pretty: bool = False
    header_case: str | None = None
    extra_columns: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    column_order: tuple[int, ...] | None = None
    header_fault: tuple[str, str] | None = None


@st.composite
def damages(draw: st.DrawFn, reader: Reader) -> Damage:
    """Random damage to a file of `reader`'s format."""
    is_csv = reader.layout == "csv"
    kinds = [
        kind
        for kind, fields in (
            ("blank", reader.required),
            ("time", reader.times),
            ("flag", reader.flags),
            ("code", reader.codes),
            ("variant", tuple(reader.variants)),
        )
        if fields
    ]
    if not is_csv:
        kinds += ["extra", "retype"]
    edits = []
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(0, ROWS - 1))
        kind = draw(st.sampled_from(kinds))
        edits.append(Edit(row, kind, *draw(_edit(reader, kind, is_csv))))
    line_kinds = {
        "csv": ["extra field", "missing field", "stray quote", "cut"],
        "ndjson": ["cut", "garble", "insert"],
        "json": ["cut", "garble"],
    }[reader.layout]
    line = (
        draw(
            st.builds(
                LineEdit,
                st.integers(0, ROWS - 1),
                st.sampled_from(line_kinds),
                st.floats(0, 1) | st.sampled_from(NDJSON_JUNK_LINES),
            )
        )
        if draw(_sometimes())
        else None
    )
    layout = reader.layout
    return Damage(
        edits=tuple(edits),
        line=line,
        bom=draw(st.booleans()),
        crlf=draw(st.booleans()),
        final_newline=draw(st.booleans()),
        indent=draw(st.sampled_from(["", " ", "\t"])) if layout == "ndjson" else "",
        blank_lines=tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, ROWS),
                        st.sampled_from(
                            ["", " ", "\t"] if layout == "ndjson" else [""]
                        ),
                    ),
                    max_size=3,
                )
            )
        )
        if layout != "json"
        else (),
        pretty=draw(st.booleans()) if layout == "json" else False,
        header_case=draw(st.sampled_from([None, "lower", "upper", "swapcase"]))
        if is_csv
        else None,
        extra_columns=tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 40),
                        st.sampled_from(["Zq_Extra__c", "CreatedDate", "Notes"]),
                        st.lists(
                            st.sampled_from(EXTRA_VALUES), min_size=ROWS, max_size=ROWS
                        ).map(tuple),
                    ),
                    max_size=2,
                    unique_by=lambda column: column[1],
                )
            )
        )
        if is_csv
        else (),
        column_order=tuple(draw(st.permutations(range(len(reader.record(0, ""))))))
        if is_csv and draw(st.booleans())
        else None,
        header_fault=draw(
            st.tuples(
                st.sampled_from(["drop", "duplicate"]), st.sampled_from(reader.header)
            )
        )
        if is_csv and draw(_sometimes())
        else None,
    )


def _sometimes() -> st.SearchStrategy[bool]:
    """True one time in four: most examples keep the file readable."""
    return st.sampled_from([False, False, False, True])


def _edit(reader: Reader, kind: str, is_csv: bool) -> st.SearchStrategy:
    if kind == "blank":
        return st.tuples(
            st.sampled_from(reader.required),
            st.sampled_from(CSV_BLANKS if is_csv else JSON_BLANKS),
        )
    if kind == "time":
        junk = TIME_JUNK if is_csv else TIME_JUNK + JSON_TIME_JUNK
        return st.tuples(st.sampled_from(reader.times), st.sampled_from(junk))
    if kind == "flag":
        junk = FLAG_JUNK if is_csv else FLAG_JUNK + JSON_FLAG_JUNK
        return st.tuples(st.sampled_from(reader.flags), st.sampled_from(junk))
    if kind == "code":
        return st.tuples(st.sampled_from(reader.codes), st.sampled_from(CODE_JUNK))
    if kind == "variant":
        return st.sampled_from(sorted(reader.variants, key=str)).flatmap(
            lambda path: st.tuples(
                st.just(path), st.sampled_from(reader.variants[path])
            )
        )
    if kind == "extra":
        return st.tuples(
            st.sampled_from([("zq_extra",), ("ZqNote",), ("_links",)]),
            st.sampled_from(WRONG_TYPES),
        )
    top = sorted({path[0] for path in _paths(reader)} | {"meta"}, key=str)
    return st.tuples(
        st.sampled_from(top).map(lambda key: (key,)), st.sampled_from(WRONG_TYPES)
    )


def _paths(reader: Reader) -> set[Path_]:
    return {
        *reader.required,
        *reader.times,
        *reader.flags,
        *reader.codes,
        *reader.variants,
    }


# ---------------------------------------------------------------- rendering


@dataclass
class Landed:
    """A damaged file and what the damage should do."""

    content: bytes
    lines: dict[int, int]
    """Record index to the `_source_line` it should load or be quarantined at."""
    states: dict[int, str]
    """Record index to `load`, `quarantine` or `any`."""
    fails: bool
    """The file cannot be read: the batch must fail."""
    may_fail: bool
    fail_line: int | None = None
    """The line an NDJSON failure should name."""
    records: list[dict] = field(default_factory=list)
    junk: set[str] = field(default_factory=set)


def _put(record: dict, path: Path_, value: object) -> None:
    target = record
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def land(reader: Reader, damage: Damage, tag: str) -> Landed:
    """Build the valid records, damage them and render the file."""
    records = [reader.record(n, tag) for n in range(ROWS)]
    states = dict.fromkeys(range(ROWS), "load")
    last: dict[tuple[int, Path_], Edit] = {}
    retypes = []
    junk: set[str] = set()
    for edit in damage.edits:
        if edit.kind == "retype":
            retypes.append(edit)
        else:
            last[(edit.row, edit.path)] = edit
    for edit in last.values():
        value = edit.value
        if reader.layout == "csv" and value is not DELETE:
            value = str(value)
        _put(records[edit.row], edit.path, value)
        if edit.kind in ROW_KINDS and states[edit.row] == "load":
            states[edit.row] = "quarantine"
        if edit.kind != "variant" and isinstance(value, str):
            junk.add(value)
    for edit in retypes:
        records[edit.row][edit.path[0]] = copy.deepcopy(edit.value)
        states[edit.row] = "any"
    originals = copy.deepcopy(records)
    if reader.layout == "csv":
        landed = _csv(reader, records, damage, states)
    elif reader.layout == "ndjson":
        landed = _ndjson(records, damage, states)
    else:
        landed = _json(records, damage, states)
    landed.records = originals
    landed.junk = {value for value in junk if len(value.strip()) >= 4}
    return landed


def _finish(text: str, damage: Damage) -> bytes:
    data = text.encode()
    return b"\xef\xbb\xbf" + data if damage.bom else data


def _ndjson(records: list[dict], damage: Damage, states: dict[int, str]) -> Landed:
    texts: list[tuple[int | None, str]] = [
        (n, damage.indent + json.dumps(r, separators=(",", ":")))
        for n, r in enumerate(records)
    ]
    fails = False
    bad_text = None
    if damage.line is not None:
        edit = damage.line
        n, text = texts[edit.row]
        if edit.kind == "cut":
            cut = 1 + int(_fraction(edit.arg) * (len(text.strip()) - 2))
            bad_text = text.strip()[:cut]
            texts[edit.row] = (n, bad_text)
        elif edit.kind == "garble":
            bad_text = _junk_line(edit.arg)
            texts[edit.row] = (n, bad_text)
        else:
            bad_text = _junk_line(edit.arg)
            texts.insert(edit.row, (None, bad_text))
        fails = True
    for position, blank in sorted(damage.blank_lines, reverse=True):
        texts.insert(min(position, len(texts)), (None, blank))
    eol = "\r\n" if damage.crlf else "\n"
    body = eol.join(text for _, text in texts) + (eol if damage.final_newline else "")
    lines = {n: i + 1 for i, (n, _) in enumerate(texts) if n is not None}
    fail_line = next(
        (i + 1 for i, (_, text) in enumerate(texts) if text is bad_text), None
    )
    return Landed(_finish(body, damage), lines, states, fails, fails, fail_line)


def _json(records: list[dict], damage: Damage, states: dict[int, str]) -> Landed:
    elements = [json.dumps(r) for r in records]
    fails = False
    if damage.line is not None and damage.line.kind == "garble":
        elements[damage.line.row] = NOT_OBJECTS[damage.line.row % len(NOT_OBJECTS)]
        fails = True
    if damage.pretty:
        doc = "[\n  " + ",\n  ".join(elements) + "\n]"
    else:
        doc = "[" + ", ".join(elements) + "]"
    if damage.line is not None and damage.line.kind == "cut":
        doc = doc[: int(_fraction(damage.line.arg) * (len(doc) - 1))]
        fails = True
    if damage.crlf:
        doc = doc.replace("\n", "\r\n")
    if damage.final_newline:
        doc += "\r\n" if damage.crlf else "\n"
    lines = {n: n + 1 for n in range(len(records))}
    return Landed(_finish(doc, damage), lines, states, fails, fails)


def _csv(
    reader: Reader, records: list[dict], damage: Damage, states: dict[int, str]
) -> Landed:
    header = list(records[0])
    rows = [[str(record[name]) for name in header] for record in records]
    for position, name, values in damage.extra_columns:
        at = position % (len(header) + 1)
        header.insert(at, name)
        for row, value in zip(rows, values, strict=True):
            row.insert(at, value)
    if damage.column_order is not None:
        order = [i for i in damage.column_order if i < len(header)]
        order += [i for i in range(len(header)) if i not in order]
        header = [header[i] for i in order]
        rows = [[row[i] for i in order] for row in rows]
    fails = may_fail = False
    if damage.header_fault is not None:
        fault, name = damage.header_fault
        at = header.index(name)
        if fault == "drop":
            del header[at]
            for row in rows:
                del row[at]
        else:
            header.append(name)
            for row in rows:
                row.append(row[at])
        fails = True
    names = [_case(name, damage.header_case) for name in header]
    eol = "\r\n" if damage.crlf else "\n"
    texts = [_csv_line(names, eol)] + [_csv_line(row, eol) for row in rows]
    if damage.line is not None:
        edit = damage.line
        i = edit.row + 1
        if edit.kind == "extra field":
            texts[i] = texts[i].removesuffix(eol) + ",surplus" + eol
            fails = True
        elif edit.kind == "missing field":
            texts[i] = _csv_line(rows[edit.row][:-1], eol)
            fails = True
        elif edit.kind == "stray quote":
            plain = [
                j
                for j, value in enumerate(rows[edit.row])
                if value and not re.search(r'[",\r\n]', value)
            ]
            j = plain[int(_fraction(edit.arg) * (len(plain) - 1))]
            marked = list(rows[edit.row])
            marked[j] = "ZQSTRAYQUOTEZQ"
            texts[i] = _csv_line(marked, eol).replace(
                "ZQSTRAYQUOTEZQ", '"' + rows[edit.row][j]
            )
            fails = True
        else:
            text = texts[i].removesuffix(eol)
            texts[i] = text[: 1 + int(_fraction(edit.arg) * (len(text) - 2))] + eol
            states[edit.row] = "any"
            may_fail = True
    for position, blank in sorted(damage.blank_lines, reverse=True):
        texts.insert(1 + min(position, ROWS), blank + eol)
    body = "".join(texts)
    if not damage.final_newline:
        body = body.removesuffix(eol)
    lines = {n: n + 1 for n in range(ROWS)}
    return Landed(_finish(body, damage), lines, states, fails, fails or may_fail)


def _csv_line(values: list[str], eol: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=eol).writerow(values)
    return out.getvalue()


def _case(name: str, how: str | None) -> str:
    return getattr(name, how)() if how else name


def _fraction(arg: object) -> float:
    return arg if isinstance(arg, float) else 0.5


def _junk_line(arg: object) -> str:
    return arg if isinstance(arg, str) else NDJSON_JUNK_LINES[0]


# ---------------------------------------------------------------- the property


@pytest.fixture(scope="module")
def warehouse(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One warehouse for all examples; each example lands its own batch and keys."""
    con = duckdb.connect(str(tmp_path_factory.mktemp("properties") / "w.duckdb"))
    yield con
    con.close()


EXAMPLES = itertools.count()


def _batch_rows(con: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> int:
    column = "batch_id" if table == "raw.load_log" else "_batch_id"
    return con.execute(
        f"select count(*) from {table} where {column} = ?", [batch_id]
    ).fetchone()[0]


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_damaged_files_load_what_is_valid_and_account_for_every_record(
    warehouse: duckdb.DuckDBPyConnection, reader: Reader, data: st.DataObject
):
    damage = data.draw(damages(reader), label="damage")
    number = next(EXAMPLES)
    tag = f"h{number}x"
    landed = land(reader, damage, tag)
    batch_id = f"{reader.source}/example-{number}"
    try:
        with tempfile.TemporaryDirectory() as root:
            landing = Path(root)
            write_batch(
                landing,
                reader.source,
                f"example-{number}",
                {reader.rel: landed.content},
            )
            try:
                report = ingest_source(warehouse, landing, reader.source)
            except IngestError as err:
                _check_failure(warehouse, reader, landed, batch_id, err)
                return
        assert not landed.fails, f"the damaged file loaded: {landed.content!r}"
        assert report.batches_loaded == [batch_id]
        _check_load(warehouse, reader, landed, batch_id)
    finally:
        # Examples share the warehouse: a later one must not see this one's rows
        # as records it replays.
        for table in (f"raw.{reader.table}", "raw.quarantine", "raw.load_log"):
            column = "batch_id" if table == "raw.load_log" else "_batch_id"
            warehouse.execute(f"delete from {table} where {column} = ?", [batch_id])


def _check_failure(
    con: duckdb.DuckDBPyConnection,
    reader: Reader,
    landed: Landed,
    batch_id: str,
    err: IngestError,
) -> None:
    message = str(err)
    assert landed.may_fail, f"a readable file failed: {message}"
    assert (err.batch_id, err.file) == (batch_id, reader.rel)
    assert f"file {reader.rel}: " in message
    assert "expected" in message
    if landed.fail_line is not None:
        assert f"line {landed.fail_line} " in message
    quoted = {v for v in personal_values(landed.records) if v in message}
    assert not quoted, f"the message quotes the file: {message}"
    for table in (f"raw.{reader.table}", "raw.quarantine", "raw.load_log"):
        assert _batch_rows(con, table, batch_id) == 0, table


def _key_text(reader: Reader, record: dict) -> str | None:
    """The key a quarantine row should name: the key's text, trimmed, if any."""
    try:
        key = reader.key[1](record) if reader.key else None
    except KeyError:
        return None
    return key.strip() or None if isinstance(key, str) else None


def _check_load(
    con: duckdb.DuckDBPyConnection, reader: Reader, landed: Landed, batch_id: str
) -> None:
    key = reader.key[0] if reader.key else "null"
    rows = con.execute(
        f"select _source_line, {key} from raw.{reader.table}"
        " where _batch_id = ? and _source_file = ?",
        [batch_id, reader.rel],
    ).fetchall()
    loaded = dict(rows)
    assert len(loaded) == len(rows), "a line loaded twice"
    quarantined = con.execute(
        "select _source_line, _source_file, entity, record_key, reason"
        " from raw.quarantine where _batch_id = ?",
        [batch_id],
    ).fetchall()
    held = {line: record_key for line, _, _, record_key, _ in quarantined}
    assert len(loaded) + len(quarantined) == ROWS
    assert len(held) == len(quarantined)
    for n, state in landed.states.items():
        line = landed.lines[n]
        if state == "load":
            assert line in loaded, f"record {n} (line {line}) was not loaded"
            if reader.key:
                assert loaded[line] == reader.key[1](landed.records[n])
        elif state == "quarantine":
            assert line in held, f"record {n} (line {line}) was not quarantined"
            if reader.key:
                assert held[line] == _key_text(reader, landed.records[n])
        else:
            assert (line in loaded) != (line in held)
    secrets = personal_values(landed.records) | landed.junk
    for _, rel, entity, _, reason in quarantined:
        assert (rel, entity) == (reader.rel, reader.table)
        assert reason and reason.strip()
        quoted = {value for value in secrets if value in reason}
        assert not quoted, f"the reason quotes values: {reason!r}"
