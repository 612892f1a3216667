"""Ingestion of bad input: quarantined rows, failed batches, replays, history, crashes.

Every test lands real batch folders and runs `ingest_source` into a DuckDB file, as
the pipeline does (INPUTS.md: a row that breaks the contract is quarantined and the
rest loads; a file that does not parse fails its batch whole; a batch is loaded once).
"""

import json
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.ingest import IngestError, ingest_source
from pipelines.lib.ingest import load as loader
from pipelines.lib.ingest.landing import file_sha256
from tests.conftest import REPO_ROOT
from tests.lib.ingest.landing_files import (
    RECEIVED_AT,
    app_event,
    authorization_consent,
    contact,
    contact_point_consent,
    csv_text,
    fhir_condition,
    fhir_consent,
    fhir_patient,
    ndjson,
    personal_values,
    sendgrid_event,
    synthea_patient,
    twilio_message,
    write_batch,
)

ROWS = 5
BAD = 2
"""Each quarantine case has `ROWS` records; the one at index `BAD` (line 3) is bad."""


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _traces(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, int]:
    """Rows naming the batch, per table, in every table of the warehouse.

    Raw tables and the quarantine carry `_batch_id`, the load log `batch_id`; any
    other table with such a column (a staging or temporary table, say) is searched
    too.
    """
    (home,) = con.execute("select current_database()").fetchone()
    columns = con.execute(
        "select table_catalog, table_schema, table_name, column_name"
        " from information_schema.columns"
        " where column_name in ('_batch_id', 'batch_id')"
    ).fetchall()
    found = {}
    for catalog, schema, table, column in columns:
        count = con.execute(
            f'select count(*) from "{catalog}"."{schema}"."{table}"'
            f' where "{column}" = ?',
            [batch_id],
        ).fetchone()[0]
        if count:
            name = f"{schema}.{table}"
            found[name if catalog == home else f"{catalog}.{name}"] = count
    return found


# ---------------------------------------------------------------- quarantine


@dataclass(frozen=True)
class BadRow:
    """A file of `ROWS` records whose record `BAD` breaks the contract."""

    source: str
    rel: str
    table: str
    key: str
    """The raw table's key column."""
    record: Callable[[int], dict]
    break_it: Callable[[dict], None]
    reason: str
    """A part of the quarantine reason."""
    source_key: str | None = None
    """The key of the record as the quarantine names it; None when it has none."""
    render: str = "ndjson"

    def records(self) -> list[dict]:
        rows = [self.record(n) for n in range(ROWS)]
        self.break_it(rows[BAD])
        return rows

    def content(self, rows: list[dict]) -> str:
        if self.render == "csv":
            return csv_text(rows)
        if self.render == "json":
            return json.dumps(rows, indent=2)
        return ndjson(rows)


def _set(**values: object) -> Callable[[dict], None]:
    return lambda row: row.update(values)


def _drop(*keys: str) -> Callable[[dict], None]:
    def drop(row: dict) -> None:
        for key in keys:
            del row[key]

    return drop


def _consent_kind(code: str) -> Callable[[dict], None]:
    def change(row: dict) -> None:
        row["category"][0]["coding"][0]["code"] = code

    return change


def _provision_type(kind: str) -> Callable[[dict], None]:
    return lambda row: row["provision"].update(type=kind)


def _ehr(rel: str, table: str, key: str, record, break_it, reason, **kw) -> BadRow:
    return BadRow("ehr", rel, table, key, record, break_it, reason, **kw)


def _crm(rel: str, table: str, key: str, record, break_it, reason, **kw) -> BadRow:
    return BadRow("crm", rel, table, key, record, break_it, reason, render="csv", **kw)


def _eng(rel: str, table: str, key: str, record, break_it, reason, **kw) -> BadRow:
    return BadRow("engagement", rel, table, key, record, break_it, reason, **kw)


P, C = "Patient.ndjson", "Contact.csv"
BAD_ROWS = {
    "fhir patient without id": _ehr(
        P, "ehr_patients", "patient_id", fhir_patient, _drop("id"), "id is missing"
    ),
    "fhir unparseable birth date": _ehr(
        P,
        "ehr_patients",
        "patient_id",
        fhir_patient,
        _set(birthDate="1984-02-30"),
        "birthDate is not a date",
        source_key="pat-0002",
    ),
    "fhir negative birth date": _ehr(
        P,
        "ehr_patients",
        "patient_id",
        fhir_patient,
        _set(birthDate="-1984-02-01"),
        "birthDate is not a date",
        source_key="pat-0002",
    ),
    "fhir birth date after the batch": _ehr(
        P,
        "ehr_patients",
        "patient_id",
        fhir_patient,
        _set(birthDate=str((RECEIVED_AT + timedelta(days=30)).date())),
        "birthDate is after the batch's received_at",
        source_key="pat-0002",
    ),
    "fhir death before birth": _ehr(
        P,
        "ehr_patients",
        "patient_id",
        fhir_patient,
        _set(deceasedDateTime="1901-05-06T00:00:00Z"),
        "deceasedDateTime is before birthDate",
        source_key="pat-0002",
    ),
    "fhir unknown gender": _ehr(
        P,
        "ehr_patients",
        "patient_id",
        fhir_patient,
        _set(gender="zebra"),
        "gender is not one of the contract's codes",
        source_key="pat-0002",
    ),
    "fhir condition without patient": _ehr(
        "Condition.ndjson",
        "ehr_conditions",
        "condition_id",
        fhir_condition,
        _drop("subject"),
        "subject.reference is missing",
        source_key="cond-0002",
    ),
    "fhir unknown consent kind": _ehr(
        "Consent.ndjson",
        "ehr_consents",
        "consent_id",
        fhir_consent,
        _consent_kind("blanket-waiver"),
        "category.coding.code is not one of the contract's codes",
        source_key="cons-0002",
    ),
    "fhir unknown consent status": _ehr(
        "Consent.ndjson",
        "ehr_consents",
        "consent_id",
        fhir_consent,
        _set(status="pending-review"),
        "status is not one of the contract's codes",
        source_key="cons-0002",
    ),
    "fhir unknown provision type": _ehr(
        "Consent.ndjson",
        "ehr_consents",
        "consent_id",
        fhir_consent,
        _provision_type("allow"),
        "provision.type is not one of the contract's codes",
        source_key="cons-0002",
    ),
    "synthea unparseable birth date": BadRow(
        "ehr",
        "patients.csv",
        "ehr_patients",
        "patient_id",
        synthea_patient,
        _set(BIRTHDATE="02/30/1984"),
        "BIRTHDATE is not a date",
        source_key="syn-0002",
        render="csv",
    ),
    "salesforce contact without id": _crm(
        C, "crm_contacts", "contact_id", contact, _set(Id=""), "Id is missing"
    ),
    "salesforce unparseable birth date": _crm(
        C,
        "crm_contacts",
        "contact_id",
        contact,
        _set(Birthdate="1984-02-30"),
        "Birthdate is not a date",
        source_key="003000002",
    ),
    "salesforce birth date after the batch": _crm(
        C,
        "crm_contacts",
        "contact_id",
        contact,
        _set(Birthdate="2099-01-01"),
        "Birthdate is after the batch's received_at",
        source_key="003000002",
    ),
    "salesforce unparseable modified time": _crm(
        C,
        "crm_contacts",
        "contact_id",
        contact,
        _set(LastModifiedDate="20/05/2026 10:00"),
        "LastModifiedDate is not an ISO 8601 timestamp",
        source_key="003000002",
    ),
    "salesforce checkbox not a boolean": _crm(
        C,
        "crm_contacts",
        "contact_id",
        contact,
        _set(HasOptedOutOfEmail="Yes please"),
        "HasOptedOutOfEmail is not true or false",
        source_key="003000002",
    ),
    "salesforce unknown contact point type": _crm(
        "ContactPointTypeConsent.csv",
        "crm_contact_point_consents",
        "contact_point_consent_id",
        contact_point_consent,
        _set(ContactPointType="CarrierPigeon"),
        "ContactPointType is not one of the contract's codes",
        source_key="0ZY000002",
    ),
    "salesforce consent without status": _crm(
        "ContactPointTypeConsent.csv",
        "crm_contact_point_consents",
        "contact_point_consent_id",
        contact_point_consent,
        _set(PrivacyConsentStatus=""),
        "PrivacyConsentStatus is missing",
        source_key="0ZY000002",
    ),
    "salesforce unknown signer role": _crm(
        "AuthorizationFormConsent.csv",
        "crm_authorization_form_consents",
        "authorization_form_consent_id",
        authorization_consent,
        _set(SignerRole__c="Neighbour"),
        "SignerRole__c is not one of the contract's codes",
        source_key="0cM000002",
    ),
    "sendgrid event without id": _eng(
        "sendgrid/events.jsonl",
        "esp_sendgrid_events",
        "sg_event_id",
        sendgrid_event,
        _drop("sg_event_id"),
        "sg_event_id is missing",
    ),
    "sendgrid unknown event in a post": BadRow(
        "engagement",
        "sendgrid/post-001.json",
        "esp_sendgrid_events",
        "sg_event_id",
        sendgrid_event,
        _set(event="teleported"),
        "event is not one of the contract's codes",
        source_key="sgev-000002",
        render="json",
    ),
    "sendgrid unreadable timestamp": _eng(
        "sendgrid/events.jsonl",
        "esp_sendgrid_events",
        "sg_event_id",
        sendgrid_event,
        _set(timestamp="yesterday at noon"),
        "timestamp is not a time",
        source_key="sgev-000002",
    ),
    "twilio unknown status": _eng(
        "twilio/messages.jsonl",
        "sms_twilio_messages",
        "message_sid",
        twilio_message,
        _set(MessageStatus="evaporated"),
        "MessageStatus is not one of the contract's codes",
        source_key="SM00000002",
    ),
    "twilio inbound without sender": _eng(
        "twilio/messages.jsonl",
        "sms_twilio_messages",
        "message_sid",
        lambda n: twilio_message(2 * n + 1),
        _drop("From"),
        "From is missing on an inbound message",
        source_key="SM00000005",
    ),
    "app unknown event type": _eng(
        "app/events.jsonl",
        "app_events",
        "event_id",
        app_event,
        _set(type="levitated"),
        "type is not one of the contract's codes",
        source_key="evt-000002",
    ),
    "app event naming nobody": _eng(
        "app/events.jsonl",
        "app_events",
        "event_id",
        app_event,
        _drop("contact_id"),
        "contact_id and mrn are both missing",
        source_key="evt-000002",
    ),
}


@pytest.mark.parametrize("case", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_row_breaking_the_contract_is_quarantined_and_the_rest_loads(
    case: BadRow, con: duckdb.DuckDBPyConnection, landing: Path
):
    rows = case.records()
    folder = write_batch(landing, case.source, "b1", {case.rel: case.content(rows)})
    batch_id = f"{case.source}/b1"

    report = ingest_source(con, landing, case.source)

    assert report.batches_loaded == [batch_id]
    assert report.rows[case.table] == ROWS - 1
    assert report.quarantined[case.table] == 1
    quarantined = con.execute(
        "select _batch_id, _source_file, _source_line, entity, record_key, reason"
        " from raw.quarantine"
    ).fetchall()
    assert len(quarantined) == 1
    batch, rel, line, entity, record_key, reason = quarantined[0]
    assert (batch, rel, line, entity) == (batch_id, case.rel, BAD + 1, case.table)
    assert record_key == case.source_key
    assert case.reason in reason
    leaked = {value for value in personal_values(rows[BAD]) if value in reason}
    assert not leaked, f"the reason quotes values of the row: {reason!r}"
    loaded = con.execute(
        f"select _source_line, {case.key} from raw.{case.table}"
        " where _batch_id = ? order by _source_line",
        [batch_id],
    ).fetchall()
    assert [line for line, _ in loaded] == [n + 1 for n in range(ROWS) if n != BAD]
    assert case.source_key not in {key for _, key in loaded}
    log = con.execute(
        "select sha256, entity, rows_loaded, rows_quarantined from raw.load_log"
        " where batch_id = ? and source_file = ?",
        [batch_id, case.rel],
    ).fetchall()
    assert log == [(file_sha256(folder / case.rel), case.table, ROWS - 1, 1)]


def _patient_lines(eol: str = "\n", indent: str = "") -> list[str]:
    return [
        indent + line + eol for line in ndjson(map(fhir_patient, range(3))).splitlines()
    ]


QUIRKS = {
    "crlf with a blank line": "".join(_patient_lines("\r\n")) + "\r\n",
    "blank line of spaces and a tab": "\n \t \n".join(_patient_lines()),
    "tab-indented lines": "".join(_patient_lines(indent="\t")),
    "byte-order mark, no final newline": "\ufeff" + "".join(_patient_lines()).strip(),
}


@pytest.mark.parametrize("content", QUIRKS.values(), ids=QUIRKS.keys())
def test_white_space_around_ndjson_lines_loads_every_resource(
    content: str, con: duckdb.DuckDBPyConnection, landing: Path
):
    write_batch(landing, "ehr", "b1", {"Patient.ndjson": content})

    report = ingest_source(con, landing, "ehr")

    assert report.rows["ehr_patients"] == 3
    assert report.quarantined["ehr_patients"] == 0


# ---------------------------------------------------------------- failed batches


@dataclass(frozen=True)
class BrokenFile:
    """A batch whose file `rel` cannot be read; `expected` is part of the message."""

    source: str
    rel: str
    content: str | bytes
    expected: str


def _lines(records: list[dict]) -> list[str]:
    return ndjson(records).splitlines(keepends=True)


def _patients_with_line(line: str) -> str:
    rows = _lines([fhir_patient(n, "x") for n in range(4)])
    return "".join([*rows[:2], line, *rows[2:]])


def _contacts_with(change: Callable[[list[str]], None]) -> str:
    lines = csv_text([contact(n, "x") for n in range(4)]).splitlines(keepends=True)
    change(lines)
    return "".join(lines)


def _unclosed_quote(lines: list[str]) -> None:
    lines[2] = lines[2].replace(",Ottoline", ',"Ottoline')


def _stray_quotes(lines: list[str]) -> None:
    # Read leniently, the two quotes pair up and fold data rows 2 to 4 into one
    # row of 17 fields, whose FirstName holds the rows between.
    lines[2] = lines[2].replace(",Ottoline", ',"Ottoline')
    lines[4] = lines[4].replace(",Ottoline", ',"Ottoline')


def _extra_field(lines: list[str]) -> None:
    lines[2] = lines[2].rstrip("\n") + ",surplus\n"


def _without_column(rows: list[dict[str, str]], column: str) -> str:
    return csv_text([{k: v for k, v in row.items() if k != column} for row in rows])


def _good_files(source: str, tag: str) -> dict[str, str]:
    """A readable file that sorts before the broken one, with one row quarantined."""
    if source == "ehr":
        rows = [fhir_condition(n, tag) for n in range(3)]
        del rows[1]["subject"]
        return {"Condition.ndjson": ndjson(rows)}
    if source == "crm":
        rows = [authorization_consent(n, tag) for n in range(3)]
        rows[1]["Status"] = "Pending"
        return {"AuthorizationFormConsent.csv": csv_text(rows)}
    rows = [app_event(n, tag) for n in range(3)]
    rows[1]["type"] = "levitated"
    return {"app/events.jsonl": ndjson(rows)}


GOOD_TABLE = {
    "ehr": "ehr_conditions",
    "crm": "crm_authorization_form_consents",
    "engagement": "app_events",
}


def _distinctive(contents: Iterable[str | bytes]) -> set[str]:
    """Tokens of files that would identify a record: ids, names, e-mails, dates."""
    tokens = set()
    for content in contents:
        text = (
            content.decode(errors="replace") if isinstance(content, bytes) else content
        )
        tokens |= personal_values(re.findall(r"[\w.@+-]{5,}", text))
    return tokens


JSON_LINE = "expected one JSON object a line"
BROKEN_FILES = {
    "ndjson line cut short": BrokenFile(
        "ehr",
        "Patient.ndjson",
        _patients_with_line('{"resourceType":"Patient","id":"pat-x9","name":[{\n'),
        f"line 3 is not a JSON object; {JSON_LINE}",
    ),
    "ndjson line that is an array": BrokenFile(
        "ehr",
        "Patient.ndjson",
        _patients_with_line("[1, 2]\n"),
        f"line 3 is not a JSON object; {JSON_LINE}",
    ),
    "ndjson bytes that are not utf-8": BrokenFile(
        "ehr",
        "Patient.ndjson",
        _patients_with_line("{}\n").encode().replace(b"{}", b'{"id": "\xff"}'),
        "line 3 is not UTF-8 text",
    ),
    "jsonl webhook line broken": BrokenFile(
        "engagement",
        "sendgrid/events.jsonl",
        "".join(
            line.replace('"event":', '"event" ', 1) if n == 1 else line
            for n, line in enumerate(_lines([sendgrid_event(n, "x") for n in range(3)]))
        ),
        f"line 2 is not a JSON object; {JSON_LINE}",
    ),
    "webhook post cut short": BrokenFile(
        "engagement",
        "sendgrid/post.json",
        json.dumps([sendgrid_event(n, "x") for n in range(3)])[:-30],
        "expected a JSON array of objects or a single JSON object",
    ),
    "webhook post cut after an event": BrokenFile(
        "engagement",
        "sendgrid/post.json",
        json.dumps([sendgrid_event(n, "x") for n in range(3)]).rsplit("{", 1)[0],
        "the array is not closed; expected a JSON array of objects",
    ),
    "csv with an unclosed quote": BrokenFile(
        "crm",
        "Contact.csv",
        _contacts_with(_unclosed_quote),
        "does not parse as CSV; expected CSV rows of 17 fields",
    ),
    "csv with stray quotes that pair up": BrokenFile(
        "crm",
        "Contact.csv",
        _contacts_with(_stray_quotes),
        "line 5 does not parse as CSV; expected CSV rows of 17 fields",
    ),
    "csv row with an extra field": BrokenFile(
        "crm",
        "Contact.csv",
        _contacts_with(_extra_field),
        "data row 2 (line 3) has 18 fields; expected CSV rows of 17 fields",
    ),
    "csv without its required column": BrokenFile(
        "crm",
        "Contact.csv",
        _without_column([contact(n, "x") for n in range(3)], "LastModifiedDate"),
        "missing required column(s) LastModifiedDate; expected a header with",
    ),
    "consent csv without its status column": BrokenFile(
        "crm",
        "ContactPointTypeConsent.csv",
        _without_column(
            [contact_point_consent(n, "x") for n in range(3)], "PrivacyConsentStatus"
        ),
        "missing required column(s) PrivacyConsentStatus",
    ),
    "synthea csv without its birth date column": BrokenFile(
        "ehr",
        "patients.csv",
        _without_column([synthea_patient(n, "x") for n in range(3)], "BIRTHDATE"),
        "missing required column(s) BIRTHDATE",
    ),
    "unknown file in a crm batch": BrokenFile(
        "crm",
        "Contacts.xlsx",
        "not a spreadsheet",
        "unexpected file; expected a Salesforce object export (<Object>.csv)",
    ),
    "unknown file in an ehr batch": BrokenFile(
        "ehr",
        "Patient.xml",
        "<Patient/>",
        "unexpected file; expected FHIR Bulk NDJSON",
    ),
    "unknown folder in an engagement batch": BrokenFile(
        "engagement",
        "mailchimp/events.json",
        "[]",
        "unexpected file; expected sendgrid/*.json",
    ),
}


@pytest.mark.parametrize("case", BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_a_file_that_does_not_read_fails_its_whole_batch(
    case: BrokenFile, con: duckdb.DuckDBPyConnection, landing: Path
):
    earlier = write_batch(
        landing,
        case.source,
        "a-earlier",
        _good_files(case.source, "e"),
        exported_at=RECEIVED_AT - timedelta(days=1),
    )
    bad_files = {**_good_files(case.source, "b"), case.rel: case.content}
    write_batch(landing, case.source, "b-broken", bad_files)
    earlier_id, broken_id = f"{case.source}/a-earlier", f"{case.source}/b-broken"

    with pytest.raises(IngestError) as caught:
        ingest_source(con, landing, case.source)

    err = caught.value
    assert (err.batch_id, err.file) == (broken_id, case.rel)
    assert str(err).startswith(f"batch {broken_id}, file {case.rel}: ")
    assert case.expected in str(err)
    quoted = {token for token in _distinctive(bad_files.values()) if token in str(err)}
    assert not quoted, f"the message quotes the file: {err}"
    assert _traces(con, broken_id) == {}
    assert _traces(con, earlier_id) == {
        f"raw.{GOOD_TABLE[case.source]}": 2,
        "raw.quarantine": 1,
        "raw.load_log": len(list(earlier.rglob("*.*"))),
    }


# ---------------------------------------------------------------- replays


def _contacts_batch(landing: Path, name: str, tag: str = "", rows: int = 3) -> Path:
    return write_batch(
        landing,
        "crm",
        name,
        {"Contact.csv": csv_text([contact(n, tag) for n in range(rows)])},
    )


def _skip_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("pipelines.lib.ingest")
        and "skipped" in record.getMessage()
    ]


def test_the_same_batch_again_is_skipped_with_a_log_line(
    con: duckdb.DuckDBPyConnection, landing: Path, caplog: pytest.LogCaptureFixture
):
    _contacts_batch(landing, "b1")
    first = ingest_source(con, landing, "crm")
    caplog.set_level(logging.INFO, logger="pipelines.lib.ingest")

    again = ingest_source(con, landing, "crm")

    assert first.batches_loaded == ["crm/b1"]
    assert (again.batches_loaded, again.batches_skipped) == ([], ["crm/b1"])
    assert again.rows == {}
    assert _skip_lines(caplog) == ["crm/b1: already loaded; skipped"]
    assert _traces(con, "crm/b1") == {"raw.crm_contacts": 3, "raw.load_log": 2}


@pytest.mark.parametrize("same_run", [False, True], ids=["later run", "same run"])
def test_the_same_content_under_another_name_is_skipped(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    caplog: pytest.LogCaptureFixture,
    same_run: bool,
):
    first = _contacts_batch(landing, "b1")
    if not same_run:
        ingest_source(con, landing, "crm")
    shutil.copytree(first, landing / "crm" / "b1-resent")
    caplog.set_level(logging.INFO, logger="pipelines.lib.ingest")

    report = ingest_source(con, landing, "crm")

    assert report.batches_loaded == (["crm/b1"] if same_run else [])
    assert report.batches_skipped == (
        ["crm/b1-resent"] if same_run else ["crm/b1", "crm/b1-resent"]
    )
    assert (
        "crm/b1-resent: same content as crm/b1, already loaded; skipped"
        in _skip_lines(caplog)
    )
    assert _traces(con, "crm/b1-resent") == {}
    assert _traces(con, "crm/b1") == {"raw.crm_contacts": 3, "raw.load_log": 2}


def test_a_replayed_sendgrid_event_is_kept_once(
    con: duckdb.DuckDBPyConnection, landing: Path
):
    events = [sendgrid_event(n) for n in range(6)]
    write_batch(
        landing,
        "engagement",
        "posts-1",
        {"sendgrid/post-1.json": json.dumps(events[:4])},
        exported_at=RECEIVED_AT - timedelta(days=1),
    )
    # The webhook retried event 2 in a later post, and sent event 5 twice in it.
    replayed = [events[2], events[4], events[5], events[5]]
    write_batch(
        landing, "engagement", "posts-2", {"sendgrid/post-2.jsonl": ndjson(replayed)}
    )

    report = ingest_source(con, landing, "engagement")

    assert report.batches_loaded == ["engagement/posts-1", "engagement/posts-2"]
    assert report.duplicates["esp_sendgrid_events"] == 2
    assert report.rows["esp_sendgrid_events"] == 6
    kept = con.execute(
        "select sg_event_id, _batch_id, _source_line from raw.esp_sendgrid_events"
        " order by sg_event_id"
    ).fetchall()
    assert kept == [
        *((f"sgev-{n:06d}", "engagement/posts-1", n + 1) for n in range(4)),
        ("sgev-000004", "engagement/posts-2", 2),
        ("sgev-000005", "engagement/posts-2", 3),
    ]
    log = con.execute(
        "select source_file, rows_loaded from raw.load_log"
        " where batch_id = 'engagement/posts-2' and entity <> 'batch_metadata'"
    ).fetchall()
    assert log == [("sendgrid/post-2.jsonl", 2)]


def test_the_same_fhir_resource_version_is_kept_once(
    con: duckdb.DuckDBPyConnection, landing: Path
):
    write_batch(
        landing,
        "ehr",
        "export-1",
        {"Patient.ndjson": ndjson([fhir_patient(n) for n in range(3)])},
        exported_at=RECEIVED_AT - timedelta(days=1),
    )
    write_batch(
        landing,
        "ehr",
        "export-2",
        {"Patient.000.ndjson": ndjson([fhir_patient(1), fhir_patient(3)])},
    )

    report = ingest_source(con, landing, "ehr")

    assert report.batches_loaded == ["ehr/export-1", "ehr/export-2"]
    assert report.duplicates["ehr_patients"] == 1
    kept = con.execute(
        "select patient_id, version_id, _batch_id from raw.ehr_patients order by 1"
    ).fetchall()
    assert kept == [
        ("pat-0000", "1", "ehr/export-1"),
        ("pat-0001", "1", "ehr/export-1"),
        ("pat-0002", "1", "ehr/export-1"),
        ("pat-0003", "1", "ehr/export-2"),
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("edit", "changed after the batch was loaded"),
        ("add", "was added after the batch was loaded"),
        ("remove", "was removed after the batch was loaded"),
    ],
)
def test_a_changed_file_under_a_loaded_batch_name_fails(
    con: duckdb.DuckDBPyConnection, landing: Path, change: str, problem: str
):
    folder = write_batch(
        landing,
        "crm",
        "b1",
        {
            "Contact.csv": csv_text([contact(n) for n in range(3)]),
            "ContactPointTypeConsent.csv": csv_text(
                [contact_point_consent(n) for n in range(2)]
            ),
        },
    )
    ingest_source(con, landing, "crm")
    before = _traces(con, "crm/b1")
    changed = "Contact.csv"
    if change == "edit":
        (folder / changed).write_text(csv_text([contact(n) for n in range(4)]))
    elif change == "add":
        changed = "AuthorizationFormConsent.csv"
        (folder / changed).write_text(csv_text([authorization_consent(0)]))
    else:
        (folder / changed).unlink()

    with pytest.raises(IngestError) as caught:
        ingest_source(con, landing, "crm")

    assert (caught.value.batch_id, caught.value.file) == ("crm/b1", changed)
    assert problem in str(caught.value)
    assert "land the change as a new batch" in str(caught.value)
    assert _traces(con, "crm/b1") == before


# ---------------------------------------------------------------- history


def test_a_newer_fhir_version_is_kept_beside_the_older(
    con: duckdb.DuckDBPyConnection, landing: Path
):
    old = fhir_patient(0, version="1", updated="2026-04-01T10:00:00Z")
    new = fhir_patient(0, version="2", updated="2026-05-01T10:00:00Z")
    new["address"][0]["city"] = "Chattanooga"
    write_batch(
        landing,
        "ehr",
        "export-1",
        {"Patient.ndjson": ndjson([old])},
        exported_at=RECEIVED_AT - timedelta(days=10),
    )
    write_batch(landing, "ehr", "export-2", {"Patient.ndjson": ndjson([new])})

    report = ingest_source(con, landing, "ehr")

    assert report.duplicates["ehr_patients"] == 0
    versions = con.execute(
        "select version_id, last_updated_at::varchar, address_city, _batch_id"
        " from raw.ehr_patients where patient_id = 'pat-0000' order by version_id"
    ).fetchall()
    assert versions == [
        ("1", "2026-04-01 10:00:00+00", "Nashville", "ehr/export-1"),
        ("2", "2026-05-01 10:00:00+00", "Chattanooga", "ehr/export-2"),
    ]


def test_a_newer_salesforce_row_is_kept_beside_the_older(
    con: duckdb.DuckDBPyConnection, landing: Path
):
    old = contact(0, modified="2026-04-01T10:00:00.000+0000")
    new = {
        **contact(0, modified="2026-05-01T10:00:00.000+0000"),
        "HasOptedOutOfEmail": "TRUE",
    }
    write_batch(
        landing,
        "crm",
        "full",
        {"Contact.csv": csv_text([old, contact(1)])},
        exported_at=RECEIVED_AT - timedelta(days=10),
    )
    write_batch(landing, "crm", "changes", {"Contact.csv": csv_text([new])})

    report = ingest_source(con, landing, "crm")

    assert report.duplicates["crm_contacts"] == 0
    versions = con.execute(
        "select last_modified_at::varchar, has_opted_out_of_email, _batch_id"
        " from raw.crm_contacts where contact_id = '003000000' order by 1"
    ).fetchall()
    assert versions == [
        ("2026-04-01 10:00:00+00", False, "crm/full"),
        ("2026-05-01 10:00:00+00", True, "crm/changes"),
    ]


# ---------------------------------------------------------------- crashes


def _three_file_batch(landing: Path, name: str, **kw) -> Path:
    """A CRM batch of three object files (read in name order) and export.json."""
    return write_batch(
        landing,
        "crm",
        name,
        {
            "AuthorizationFormConsent.csv": csv_text(
                [authorization_consent(n, name) for n in range(3)]
            ),
            "Contact.csv": csv_text([contact(n, name) for n in range(4)]),
            "ContactPointTypeConsent.csv": csv_text(
                [contact_point_consent(n, name) for n in range(5)]
            ),
        },
        **kw,
    )


FULL_BATCH = {
    "raw.crm_authorization_form_consents": 3,
    "raw.crm_contacts": 4,
    "raw.crm_contact_point_consents": 5,
    "raw.load_log": 4,
}


class Crash(Exception):
    """The simulated failure."""


@pytest.mark.parametrize("error", [Crash, KeyboardInterrupt])
@pytest.mark.parametrize("seam", ["after the first file", "before the load log"])
def test_a_crash_halfway_leaves_nothing_and_a_rerun_loads_the_batch(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    monkeypatch: pytest.MonkeyPatch,
    seam: str,
    error: type[BaseException],
):
    _three_file_batch(landing, "b0", exported_at=RECEIVED_AT - timedelta(days=1))
    ingest_source(con, landing, "crm")
    _three_file_batch(landing, "b1")
    seen: list[dict[str, int]] = []

    if seam == "after the first file":
        real = loader._load_file
        calls = []

        def load_file(con, plan, *args, **kwargs):
            if calls:
                seen.append(_traces(con, "crm/b1"))
                raise error
            calls.append(plan.file.rel)
            return real(con, plan, *args, **kwargs)

        monkeypatch.setattr(loader, "_load_file", load_file)
    else:

        def log_files(con, *args, **kwargs):
            seen.append(_traces(con, "crm/b1"))
            raise error

        monkeypatch.setattr(loader, "_log_files", log_files)

    with pytest.raises(error):
        ingest_source(con, landing, "crm")

    # The crash came after rows of the batch were written somewhere ...
    assert len(seen) == 1
    assert sum(seen[0].values()) > 0
    # ... and none of them remain, anywhere.
    assert _traces(con, "crm/b1") == {}
    assert _traces(con, "crm/b0") == FULL_BATCH
    monkeypatch.undo()

    report = ingest_source(con, landing, "crm")

    assert (report.batches_loaded, report.batches_skipped) == (["crm/b1"], ["crm/b0"])
    assert _traces(con, "crm/b1") == FULL_BATCH


CRASHING_LOAD = """
import os, sys
from pathlib import Path
import duckdb
from pipelines.lib.ingest import ingest_source
from pipelines.lib.ingest import load

real = load._load_file
calls = []


def load_file(*args, **kwargs):
    if calls:
        os._exit(3)
    calls.append(1)
    return real(*args, **kwargs)


load._load_file = load_file
con = duckdb.connect(sys.argv[1])
ingest_source(con, Path(sys.argv[2]), "crm")
"""


def test_a_process_killed_halfway_leaves_nothing_in_raw(tmp_path: Path, landing: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    _three_file_batch(landing, "b1")

    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_LOAD, str(warehouse), str(landing)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert killed.returncode == 3, killed.stderr
    with duckdb.connect(str(warehouse)) as con:
        left = _traces(con, "crm/b1")
        assert {table: n for table, n in left.items() if table.startswith("raw.")} == {}
        report = ingest_source(con, landing, "crm")
        assert report.batches_loaded == ["crm/b1"]
        assert _traces(con, "crm/b1") == FULL_BATCH
