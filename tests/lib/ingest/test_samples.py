"""Ingestion of the real sample exports in `shared/data`, one test per folder.

Each test copies one folder of `SHARED_DATA` into the contract layout of a landing
folder (INPUTS.md), ingests it into a DuckDB file and checks what was loaded,
quarantined and skipped against counts taken from the sample files themselves (and
against the counts their PROVENANCE.md gives). A missing folder fails the test.
"""

import csv
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.ingest import IngestError, SourceReport, ingest_source
from tests.conftest import SHARED_DATA

FHIR_TABLES = {
    "Patient": "ehr_patients",
    "RelatedPerson": "ehr_related_persons",
    "Condition": "ehr_conditions",
    "Encounter": "ehr_encounters",
    "Procedure": "ehr_procedures",
    "MedicationRequest": "ehr_medication_requests",
    "Immunization": "ehr_immunizations",
    "Observation": "ehr_observations",
    "Consent": "ehr_consents",
}
"""The FHIR resource types INPUTS.md reads, and the raw table each loads."""

SYNTHEA_TABLES = {
    "patients": "ehr_patients",
    "encounters": "ehr_encounters",
    "conditions": "ehr_conditions",
    "medications": "ehr_medication_requests",
    "immunizations": "ehr_immunizations",
    "procedures": "ehr_procedures",
    "observations": "ehr_observations",
}
"""The Synthea CSV tables INPUTS.md reads, and the raw table each loads."""

CONTACT_REQUIRED = (
    "Id",
    "IsDeleted",
    "LastModifiedDate",
    "HasOptedOutOfEmail",
    "DoNotCall",
)
"""Columns a Contact export must have: every object's three (INPUTS.md), and the two
opt-out flags, whose absence would read as "no opt-outs"."""

SENDGRID_REQUIRED = ("sg_event_id", "event", "email", "timestamp")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("set TimeZone = 'UTC'")
    yield connection
    connection.close()


def _sample(name: str) -> Path:
    """The shared sample folder; its absence fails the test (never skips it)."""
    folder = SHARED_DATA / name
    assert folder.is_dir(), f"expected the real sample folder {folder}; it is missing"
    return folder


def _land(
    landing: Path,
    source: str,
    batch: str,
    files: Mapping[str, Path],
    *,
    received_at: datetime,
) -> Path:
    """Copy sample files into `landing/<source>/<batch>/<rel>`, dated `received_at`.

    An EHR batch is dated by its folder's modification time, a CRM or engagement
    batch by an `export.json` (INPUTS.md).
    """
    folder = landing / source / batch
    folder.mkdir(parents=True)
    for rel, path in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    if source == "ehr":
        os.utime(folder, (received_at.timestamp(), received_at.timestamp()))
    else:
        export = {"exported_at": received_at.isoformat()}
        (folder / "export.json").write_text(json.dumps(export), encoding="utf-8")
    return folder


def _table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per raw table that has any (load log and quarantine left out)."""
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'"
        " and table_name not in ('load_log', 'quarantine')"
    ).fetchall()
    counts = {}
    for (table,) in tables:
        count = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        if count:
            counts[table] = count
    return counts


def _quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """`(file, line, entity, record_key, reason)` of every quarantined row, sorted."""
    return con.execute(
        "select _source_file, _source_line, entity, record_key, reason"
        " from raw.quarantine order by all"
    ).fetchall()


def _load_log(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[tuple, tuple]:
    """`(file, entity)` to `(rows_loaded, rows_quarantined)` for one batch."""
    rows = con.execute(
        "select source_file, entity, rows_loaded, rows_quarantined from raw.load_log"
        " where batch_id = ?",
        [batch_id],
    ).fetchall()
    return {
        (rel, entity): (loaded, quarantined)
        for rel, entity, loaded, quarantined in rows
    }


def _traces(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, int]:
    """Rows naming the batch, per table, in every table of the warehouse."""
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
        " where column_name in ('_batch_id', 'batch_id')"
    ).fetchall()
    found = {}
    for schema, table, column in columns:
        count = con.execute(
            f'select count(*) from "{schema}"."{table}" where "{column}" = ?',
            [batch_id],
        ).fetchone()[0]
        if count:
            found[f"{schema}.{table}"] = count
    return found


def _ndjson(path: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _instant(text: str) -> datetime:
    """An ISO 8601 time as UTC; a bare date is its 00:00 UTC."""
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _mrn(resource: dict) -> str | None:
    """The value of the identifier typed `MR`."""
    for identifier in resource.get("identifier", []):
        codes = [c.get("code") for c in identifier.get("type", {}).get("coding", [])]
        if "MR" in codes:
            return identifier.get("value")
    return None


def _is_json(path: Path) -> bool:
    """Whether a file is strict JSON (RFC 8259), as Python's parser reads it."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return True


def _assert_no_quarantine(con: duckdb.DuckDBPyConnection, report: SourceReport) -> None:
    assert set(report.quarantined.values()) == {0}, report.quarantined
    assert _quarantine(con) == []


def test_fhir_bulk_sample(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Bulk NDJSON `<Type>.000.ndjson`: read types load, the rest are counted."""
    src = _sample("fhir-bulk-sample")
    # The export's transactionTime, as its log.ndjson gives it; no manifest, so the
    # folder's modification time dates the batch.
    received = datetime(2024, 8, 6, 18, 12, 57, tzinfo=UTC)
    files = {path.name: path for path in src.iterdir() if path.is_file()}
    _land(landing, "ehr", "bulk-10-patients", files, received_at=received)

    report = ingest_source(con, landing, "ehr")

    by_type: Counter[str] = Counter()
    for path in src.glob("*.000.ndjson"):
        types = Counter(r["resourceType"] for r in _ndjson(path))
        assert list(types) == [path.name.split(".")[0]], path.name
        by_type.update(types)
    loaded = {FHIR_TABLES[t]: n for t, n in by_type.items() if t in FHIR_TABLES}
    skipped = {t: n for t, n in by_type.items() if t not in FHIR_TABLES}
    skipped["log"] = len(_ndjson(src / "log.ndjson"))
    assert loaded == {
        "ehr_patients": 13,
        "ehr_conditions": 555,
        "ehr_encounters": 1215,
        "ehr_procedures": 2056,
        "ehr_medication_requests": 1745,
        "ehr_immunizations": 161,
    }
    assert skipped == {
        "AllergyIntolerance": 11,
        "Device": 16,
        "Location": 44,
        "Organization": 43,
        "Practitioner": 43,
        "PractitionerRole": 43,
        "log": 4,
    }
    assert report.batches_loaded == ["ehr/bulk-10-patients"]
    assert report.rows == loaded
    assert _table_counts(con) == loaded
    assert report.skipped_records == skipped
    assert set(report.duplicates.values()) == {0}
    _assert_no_quarantine(con, report)
    assert sorted(report.ignored_files) == [
        "ehr/bulk-10-patients/LICENSE",
        "ehr/bulk-10-patients/PROVENANCE.md",
        "ehr/bulk-10-patients/README.md",
    ]
    log = _load_log(con, "ehr/bulk-10-patients")
    assert log[("Patient.000.ndjson", "ehr_patients")] == (13, 0)
    assert log[("Location.000.ndjson", "Location")] == (0, 0)
    assert len(log) == len(files) - 3

    patients = {p["id"]: p for p in _ndjson(src / "Patient.000.ndjson")}
    rows = con.execute(
        "select patient_id, mrn, birth_date, gender, is_deceased, deceased_at, email,"
        " mobile_phone, home_phone, address_state, address_postal_code, _received_at"
        " from raw.ehr_patients"
    ).fetchall()
    assert {row[0] for row in rows} == set(patients)
    for (
        patient_id,
        mrn,
        birth,
        gender,
        is_deceased,
        deceased_at,
        email,
        mobile,
        home,
        state,
        postal_code,
        received_at,
    ) in rows:
        patient = patients[patient_id]
        telecom = patient.get("telecom", [])
        assert mrn is not None
        assert mrn == _mrn(patient)
        assert birth == date.fromisoformat(patient["birthDate"])
        assert gender == patient["gender"]
        died = patient.get("deceasedDateTime")
        # No deceased element on a living Synthea patient: unknown, not false.
        assert is_deceased is (True if died else None)
        assert deceased_at == (_instant(died) if died else None)
        assert email is None
        assert not [t for t in telecom if t["system"] == "email"]
        assert mobile is None
        assert [home] == [t["value"] for t in telecom if t.get("use") == "home"]
        assert state == patient["address"][0]["state"]
        assert postal_code == patient["address"][0].get("postalCode")
        assert received_at == received
    assert sum(1 for row in rows if row[4]) == 3


def test_fhir_ndjson_1patient(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """One patient's NDJSON; `Patient1.ndjson` is read as the Patient file."""
    src = _sample("fhir-ndjson-1patient")
    received = datetime(2021, 11, 30, tzinfo=UTC)  # the repository's only commit
    files = {path.name: path for path in src.glob("*.ndjson")}
    _land(landing, "ehr", "one-patient", files, received_at=received)

    report = ingest_source(con, landing, "ehr")

    by_type: Counter[str] = Counter()
    for path in files.values():
        by_type.update(r["resourceType"] for r in _ndjson(path))
    loaded = {FHIR_TABLES[t]: n for t, n in by_type.items() if t in FHIR_TABLES}
    skipped = {t: n for t, n in by_type.items() if t not in FHIR_TABLES}
    assert loaded == {
        "ehr_patients": 1,
        "ehr_observations": 174,
        "ehr_conditions": 68,
        "ehr_encounters": 75,
        "ehr_procedures": 78,
        "ehr_medication_requests": 117,
        "ehr_immunizations": 15,
    }
    assert skipped == {
        "CarePlan": 4,
        "CareTeam": 4,
        "DiagnosticReport": 109,
        "ImagingStudy": 1,
        "Provenance": 1,
    }
    assert report.rows == loaded
    assert _table_counts(con) == loaded
    assert report.skipped_records == skipped
    _assert_no_quarantine(con, report)
    log = _load_log(con, "ehr/one-patient")
    assert log[("Patient1.ndjson", "ehr_patients")] == (1, 0)
    assert log[("DiagnosticReport.ndjson", "DiagnosticReport")] == (0, 0)

    [patient] = _ndjson(src / "Patient1.ndjson")
    row = con.execute(
        "select patient_id, mrn, birth_date, gender, is_deceased, address_city,"
        " address_state from raw.ehr_patients"
    ).fetchone()
    assert row == (
        patient["id"],
        _mrn(patient),
        date(1954, 8, 25),
        "female",
        None,
        "Belmont",
        "MA",
    )
    observations = _ndjson(src / "Observation.ndjson")
    numbers = [o for o in observations if "valueQuantity" in o]
    texts = [
        o
        for o in observations
        if "valueString" in o or "valueCodeableConcept" in o or "valueBoolean" in o
    ]
    counts = con.execute(
        "select count(*), count(value_number), count(value_text), count(effective_at),"
        " count(distinct patient_id), min(patient_id)"
        " from raw.ehr_observations"
    ).fetchone()
    assert counts == (174, len(numbers), len(texts), 174, 1, patient["id"])
    assert len(numbers) + len(texts) < 174  # panels carry their values in components


@pytest.mark.parametrize("layout", ["as-published", "bundled"])
def test_fhir_r4_examples(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path, layout: str
) -> None:
    """Official R4 examples, one resource a `.json` file or one Bundle, load alike.

    As published, the files sit in subfolders `consent/` and `patient/`; bundled,
    the same resources are the entries of one `collection` Bundle. The other
    layout, landed next, holds the same resource versions: every one of its
    resources is a replay. A third run finds both batches loaded.
    """
    src = _sample("fhir-r4-examples")
    received = datetime(2020, 3, 27, tzinfo=UTC)  # when the examples last changed
    resources = {
        path.relative_to(src).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(src.rglob("*.json"))
    }
    assert Counter(r["resourceType"] for r in resources.values()) == {
        "Consent": 12,
        "Patient": 8,
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in resources.values()],
    }
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle), encoding="utf-8")
    layouts = {
        "as-published": {
            path.relative_to(src).as_posix(): path
            for path in src.rglob("*")
            if path.is_file()
        },
        "bundled": {"bundle.json": bundle_file},
    }
    batch_id = f"ehr/{layout}"
    _land(landing, "ehr", layout, layouts[layout], received_at=received)

    report = ingest_source(con, landing, "ehr")

    assert report.batches_loaded == [batch_id]
    assert report.rows == {"ehr_consents": 12, "ehr_patients": 8}
    assert report.skipped_records == {}
    _assert_no_quarantine(con, report)
    if layout == "bundled":
        assert report.ignored_files == []
        assert _load_log(con, batch_id) == {
            ("bundle.json", "ehr_consents"): (12, 0),
            ("bundle.json", "ehr_patients"): (8, 0),
        }
        where = {rel: ("bundle.json", n) for n, rel in enumerate(resources, start=1)}
    else:
        assert report.ignored_files == [
            f"{batch_id}/LICENSE",
            f"{batch_id}/PROVENANCE.md",
        ]
        assert _load_log(con, batch_id) == {
            (rel, FHIR_TABLES[r["resourceType"]]): (1, 0)
            for rel, r in resources.items()
        }
        where = {rel: (rel, 1) for rel in resources}
    lineage = con.execute(
        "select _source_file, _source_line, patient_id from raw.ehr_patients"
        " union all"
        " select _source_file, _source_line, consent_id from raw.ehr_consents"
    ).fetchall()
    assert sorted(lineage) == sorted(
        (*where[rel], resource["id"]) for rel, resource in resources.items()
    )

    expected_patients = set()
    for patient in resources.values():
        if patient["resourceType"] != "Patient":
            continue
        died = patient.get("deceasedDateTime")
        telecom = patient.get("telecom", [])
        emails = [t["value"] for t in telecom if t.get("system") == "email"]
        birth = patient.get("birthDate")
        expected_patients.add(
            (
                patient["id"],
                _mrn(patient),
                patient["gender"],
                date.fromisoformat(birth) if birth else None,
                True if died else patient.get("deceasedBoolean"),
                _instant(died) if died else None,
                emails[0] if emails else None,
            )
        )
    rows = con.execute(
        "select patient_id, mrn, gender, birth_date, is_deceased, deceased_at, email"
        " from raw.ehr_patients"
    ).fetchall()
    assert len(rows) == 8
    assert set(rows) == expected_patients
    # deceasedDateTime (pat3) and deceasedBoolean true (pat4) are read as deceased;
    # an explicit false stays false; no deceased element at all is unknown.
    assert {row[0]: row[4] for row in rows} == {
        "pat3": True,
        "pat4": True,
        "example": False,
        "f001": False,
        "f201": False,
        "ch-example": False,
        "newborn": None,
        "pat1": None,
    }
    by_id = {row[0]: row for row in rows}
    # pat1 has no birthDate: the contract does not require one, so it loads.
    assert by_id["pat1"][1:4] == ("654321", "male", None)
    assert by_id["pat3"][5] == datetime(2015, 2, 14, 3, 42, tzinfo=UTC)
    assert [row[0] for row in rows if row[6]] == ["f001"]

    # The HL7 examples are patient-privacy Consents without a Clearlist consent-kind
    # category: the reader keeps them with a null kind (nothing downstream treats a
    # kindless Consent as a restriction or a grant), reads what they carry, and
    # quarantines none, as nothing in them breaks a code set the reader checks.
    consents = {
        r["id"]: r for r in resources.values() if r["resourceType"] == "Consent"
    }
    rows = con.execute(
        "select consent_id, patient_id, status, scope_code, kind, provision_type,"
        " purposes, actions, actors, period_start_at, period_end_at, agreed_at,"
        " _record_at from raw.ehr_consents"
    ).fetchall()
    assert {row[0] for row in rows} == set(consents)
    for (
        consent_id,
        patient_id,
        status,
        scope,
        kind,
        provision_type,
        purposes,
        actions,
        actors,
        start,
        end,
        agreed,
        record_at,
    ) in rows:
        consent = consents[consent_id]
        provision = consent.get("provision", {})
        period = provision.get("period", {})
        action_codes = [
            c["code"] for a in provision.get("action", []) for c in a["coding"]
        ]
        displays = [
            a["reference"]["display"]
            for a in provision.get("actor", [])
            if "display" in a["reference"]
        ]
        purpose_codes = [p["code"] for p in provision.get("purpose", [])]
        assert patient_id == consent["patient"]["reference"].removeprefix("Patient/")
        assert (status, scope, kind) == ("active", "patient-privacy", None)
        assert provision_type == provision.get("type")
        assert purposes == (";".join(purpose_codes) or None)
        assert actions == (";".join(action_codes) or None)
        assert actors == (";".join(displays) or None)
        assert start == (_instant(period["start"]) if "start" in period else None)
        assert end == (_instant(period["end"]) if "end" in period else None)
        assert agreed == _instant(consent["dateTime"]) == record_at
    summary = Counter((row[1], row[5], row[6], row[9] is not None) for row in rows)
    assert summary == {
        ("f001", None, None, False): 5,
        ("f001", "deny", None, False): 1,
        ("f001", None, "ETREAT", False): 1,
        ("f001", None, None, True): 2,
        ("example", None, None, False): 1,
        ("72", None, None, True): 1,
        ("xcda", None, None, True): 1,
    }

    other = "bundled" if layout == "as-published" else "as-published"
    later = datetime(2020, 3, 28, tzinfo=UTC)
    _land(landing, "ehr", other, layouts[other], received_at=later)
    replayed = ingest_source(con, landing, "ehr")
    assert replayed.batches_loaded == [f"ehr/{other}"]
    assert replayed.rows == {"ehr_consents": 0, "ehr_patients": 0}
    assert replayed.duplicates == {"ehr_consents": 12, "ehr_patients": 8}
    assert _table_counts(con) == {"ehr_consents": 12, "ehr_patients": 8}

    rerun = ingest_source(con, landing, "ehr")
    assert rerun.batches_loaded == []
    assert sorted(rerun.batches_skipped) == ["ehr/as-published", "ehr/bundled"]


def test_synthea_csv_sample(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """A whole Synthea CSV run: 7 tables load, 10 are counted and skipped."""
    src = _sample("synthea-csv-sample")
    metadata = json.loads((src / "run-metadata.json").read_text(encoding="utf-8"))
    received = _instant(metadata["runStartTime"])
    files = {path.name: path for path in src.iterdir() if path.is_file()}
    _land(landing, "ehr", "synthea-run", files, received_at=received)

    report = ingest_source(con, landing, "ehr")

    tables = {path.stem: _csv_rows(path) for path in src.glob("*.csv")}
    loaded = {
        SYNTHEA_TABLES[t]: len(r) for t, r in tables.items() if t in SYNTHEA_TABLES
    }
    skipped = {t: len(r) for t, r in tables.items() if t not in SYNTHEA_TABLES}
    assert loaded == {
        "ehr_patients": 11,
        "ehr_encounters": 388,
        "ehr_conditions": 273,
        "ehr_medication_requests": 173,
        "ehr_immunizations": 129,
        "ehr_procedures": 889,
        "ehr_observations": 3626,
    }
    assert skipped == {
        "allergies": 14,
        "careplans": 37,
        "devices": 11,
        "imaging_studies": 11,
        "supplies": 47,
        "organizations": 47,
        "providers": 47,
        "payers": 10,
        "payer_transitions": 128,
        "claims": 561,
    }
    assert report.rows == loaded
    assert _table_counts(con) == loaded
    assert report.skipped_records == skipped
    assert set(report.duplicates.values()) == {0}
    _assert_no_quarantine(con, report)
    log = _load_log(con, "ehr/synthea-run")
    assert log[("run-metadata.json", "batch_metadata")] == (0, 0)
    assert log[("observations.csv", "ehr_observations")] == (3626, 0)
    assert log[("claims.csv", "claims")] == (0, 0)
    assert len(log) == 18

    patients = {row["Id"]: row for row in tables["patients"]}
    rows = con.execute(
        "select patient_id, mrn, birth_date, gender, is_deceased, deceased_at,"
        " address_city, address_state, address_postal_code, _received_at"
        " from raw.ehr_patients"
    ).fetchall()
    assert {row[0] for row in rows} == set(patients)
    for (
        patient_id,
        mrn,
        birth,
        gender,
        dead,
        died_at,
        city,
        state,
        zip_code,
        at,
    ) in rows:
        patient = patients[patient_id]
        assert mrn == patient_id
        assert birth == date.fromisoformat(patient["BIRTHDATE"])
        assert gender == {"M": "male", "F": "female"}[patient["GENDER"]]
        assert dead is bool(patient["DEATHDATE"])
        assert died_at == (_instant(patient["DEATHDATE"]) if dead else None)
        assert (city, state) == (patient["CITY"], patient["STATE"])
        assert zip_code == patient["ZIP"]  # text: leading zeros and 00000 kept
        assert at == received
    assert sum(1 for row in rows if row[4]) == 1
    assert sum(1 for row in rows if row[8] == "00000") == 3

    observation_types = Counter(row["TYPE"] for row in tables["observations"])
    assert observation_types == {"numeric": 2107, "text": 1519}
    assert con.execute(
        "select count(value_number), count(value_text) from raw.ehr_observations"
    ).fetchone() == (observation_types["numeric"], observation_types["text"])
    stopped = sum(1 for row in tables["medications"] if row["STOP"])
    assert dict(
        con.execute(
            "select status, count(*) from raw.ehr_medication_requests group by 1"
        ).fetchall()
    ) == {"stopped": stopped, "active": len(tables["medications"]) - stopped}


def test_synthea_patients_variants(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    """Four generations of `patients.csv`, each its own batch, read through drift."""
    src = _sample("synthea-patients-variants")
    variants = {
        path.name.removesuffix("_patients.csv"): path
        for path in sorted(src.glob("*_patients.csv"))
    }
    assert sorted(variants) == [
        "andrew-nguyen-2022",
        "fusephir-2017",
        "heart-health-2024",
        "synthea-repo-csv-SE",
    ]
    received = datetime(2025, 1, 1, tzinfo=UTC)  # after every birth in the files
    for batch, path in variants.items():
        _land(landing, "ehr", batch, {"patients.csv": path}, received_at=received)

    report = ingest_source(con, landing, "ehr")

    files = {batch: _csv_rows(path) for batch, path in variants.items()}
    sizes = {batch: len(rows) for batch, rows in files.items()}
    assert sizes == {
        "andrew-nguyen-2022": 59,
        "fusephir-2017": 285,
        "heart-health-2024": 42,
        "synthea-repo-csv-SE": 13,
    }
    assert sorted(report.batches_loaded) == [f"ehr/{batch}" for batch in sorted(files)]
    assert report.rows == {"ehr_patients": sum(sizes.values())}
    assert report.skipped_records == {}
    _assert_no_quarantine(con, report)

    for batch, source_rows in files.items():
        expected = set()
        for row in source_rows:
            patient_id = row.get("Id") or row["ID"]
            if "STATE" in row:
                line, city, state = row["ADDRESS"], row["CITY"], row["STATE"]
                zip_code = row["ZIP"] or None
            else:  # 2017: one string, `<street> <city> <ST> <zip> US`
                line, state, zip_code, country = row["ADDRESS"].rsplit(maxsplit=3)
                assert country == "US"
                city = None
            given = " ".join(filter(None, (row["FIRST"], row.get("MIDDLE"))))
            expected.add(
                (
                    patient_id,
                    patient_id,
                    given,
                    row["LAST"],
                    date.fromisoformat(row["BIRTHDATE"]),
                    {"M": "male", "F": "female"}[row["GENDER"]],
                    line,
                    city,
                    state,
                    zip_code,
                    bool(row["DEATHDATE"]),
                    _instant(row["DEATHDATE"]) if row["DEATHDATE"] else None,
                )
            )
        rows = con.execute(
            "select patient_id, mrn, given_name, family_name, birth_date, gender,"
            " address_line, address_city, address_state, address_postal_code,"
            " is_deceased, deceased_at from raw.ehr_patients where _batch_id = ?",
            [f"ehr/{batch}"],
        ).fetchall()
        assert len(rows) == sizes[batch]
        assert set(rows) == expected, batch

    deceased = dict(
        con.execute(
            "select _batch_id, count(*) filter (where is_deceased)"
            " from raw.ehr_patients group by 1"
        ).fetchall()
    )
    assert deceased == {
        "ehr/andrew-nguyen-2022": 9,
        "ehr/fusephir-2017": 85,
        "ehr/heart-health-2024": 3,
        "ehr/synthea-repo-csv-SE": 3,
    }
    # The 2017 layout has no CITY, STATE or ZIP: they come out of ADDRESS.
    assert con.execute(
        "select count(address_state), count(address_postal_code), count(address_city)"
        " from raw.ehr_patients where _batch_id = 'ehr/fusephir-2017'"
    ).fetchone() == (285, 285, 0)
    assert con.execute(
        "select count(*) from raw.ehr_patients where address_city = 'Södertälje'"
    ).fetchone()[0] == sum(
        1 for row in files["synthea-repo-csv-SE"] if row["CITY"] == "Södertälje"
    )


def test_salesforce_contacts(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Two Salesforce exports, each a batch: one loads, the other fails as a whole.

    The workshop org's Contact.csv loads (Account, Campaign, CampaignMember and
    Lead are counted and skipped). The Power BI export's Contact.csv lacks
    `LastModifiedDate`, which INPUTS.md says every object has, and the two opt-out
    flags, whose absence would read as "never opted out": its batch fails, naming
    the file and the columns, and nothing of it remains.
    """
    src = _sample("salesforce-contacts")
    workshop = {p.name: p for p in (src / "data-cloud-workshop").glob("*.csv")}
    powerbi = {p.name: p for p in (src / "salesforce-in-powerbi").glob("*.csv")}
    # The repositories' commit dates stand for the export times.
    workshop_at = datetime(2024, 4, 9, tzinfo=UTC)
    _land(landing, "crm", "data-cloud-workshop", workshop, received_at=workshop_at)
    assert (src / "data-cloud-workshop" / "Contact.csv").read_bytes()[:3] == (
        b"\xef\xbb\xbf"
    )

    report = ingest_source(con, landing, "crm")

    contacts = _csv_rows(workshop["Contact.csv"])
    assert len(contacts) == 102
    checkboxes = ("IsDeleted", "HasOptedOutOfEmail", "DoNotCall")
    assert {row[name] for row in contacts for name in checkboxes} == {""}
    future = [
        (n, row["Id"])
        for n, row in enumerate(contacts, start=1)
        if row["Birthdate"]
        and date.fromisoformat(row["Birthdate"]) > workshop_at.date()
    ]
    assert len(future) == 9
    skipped = {
        name.removesuffix(".csv"): len(_csv_rows(path))
        for name, path in workshop.items()
        if name != "Contact.csv"
    }
    assert skipped == {"Account": 22, "Campaign": 8, "CampaignMember": 68, "Lead": 60}
    assert report.batches_loaded == ["crm/data-cloud-workshop"]
    assert report.rows == {"crm_contacts": len(contacts) - len(future)}
    assert report.quarantined == {"crm_contacts": len(future)}
    assert report.skipped_records == skipped
    assert _table_counts(con) == {"crm_contacts": 93}
    # A Birthdate after the export is a data error the row cannot be trusted with.
    assert _quarantine(con) == [
        (
            "Contact.csv",
            line,
            "crm_contacts",
            contact_id,
            "Birthdate is after the batch's received_at",
        )
        for line, contact_id in future
    ]
    assert _load_log(con, "crm/data-cloud-workshop") == {
        ("Contact.csv", "crm_contacts"): (93, 9),
        ("Account.csv", "Account"): (0, 0),
        ("Campaign.csv", "Campaign"): (0, 0),
        ("CampaignMember.csv", "CampaignMember"): (0, 0),
        ("Lead.csv", "Lead"): (0, 0),
        ("export.json", "batch_metadata"): (0, 0),
    }

    quarantined = {contact_id for _, contact_id in future}
    by_id = {row["Id"]: row for row in contacts if row["Id"] not in quarantined}
    rows = con.execute(
        "select contact_id, first_name, last_name, email, mailing_city,"
        " mailing_postal_code, birth_date, is_deleted, has_opted_out_of_email,"
        " do_not_call, mrn, last_modified_at from raw.crm_contacts"
    ).fetchall()
    # The byte-order mark is not part of the first column's name: `Id` is read.
    assert {row[0] for row in rows} == set(by_id)
    for (
        contact_id,
        first,
        last,
        email,
        city,
        postal,
        birth,
        *flags,
        mrn,
        modified,
    ) in rows:
        row = by_id[contact_id]
        assert (first, last, email) == (row["FirstName"], row["LastName"], row["Email"])
        assert (city, postal) == (
            row["MailingCity"] or None,
            row["MailingPostalCode"] or None,
        )
        assert birth == (
            date.fromisoformat(row["Birthdate"]) if row["Birthdate"] else None
        )
        # IsDeleted, HasOptedOutOfEmail and DoNotCall are empty: unchecked boxes.
        assert flags == [False, False, False]
        assert mrn is None  # no MRN__c column in this org
        assert modified == _instant(row["LastModifiedDate"])

    header = list(_csv_rows(powerbi["Contact.csv"])[0])
    missing = [name for name in CONTACT_REQUIRED if name not in header]
    assert missing == ["LastModifiedDate", "HasOptedOutOfEmail", "DoNotCall"]
    # Its booleans are written FALSE, but the file never gets as far as being read.
    assert {row["IsDeleted"] for row in _csv_rows(powerbi["Contact.csv"])} == {"FALSE"}
    powerbi_at = datetime(2026, 3, 12, tzinfo=UTC)
    _land(landing, "crm", "salesforce-in-powerbi", powerbi, received_at=powerbi_at)

    with pytest.raises(IngestError) as caught:
        ingest_source(con, landing, "crm")

    error = caught.value
    assert error.batch_id == "crm/salesforce-in-powerbi"
    assert error.file == "Contact.csv"
    assert error.detail.startswith(
        f"missing required column(s) {', '.join(sorted(missing))};"
    )
    assert "expected a header with" in error.detail
    assert _traces(con, "crm/salesforce-in-powerbi") == {}
    assert _table_counts(con) == {"crm_contacts": 93}


def test_sendgrid_events(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """SendGrid's documented webhook posts as `sendgrid/<name>.json`."""
    src = _sample("sendgrid-events") / "event-webhook"
    files = {f"sendgrid/{path.name}": path for path in sorted(src.glob("*.json"))}
    received = datetime(2021, 6, 11, tzinfo=UTC)
    _land(landing, "engagement", "sendgrid-docs", files, received_at=received)

    report = ingest_source(con, landing, "engagement")

    events = []
    for rel, path in files.items():
        body = json.loads(path.read_text(encoding="utf-8"))
        posted = body if isinstance(body, list) else [body]
        events += [(rel, n, event) for n, event in enumerate(posted, start=1)]
    assert len(events) == 37
    bad = [(rel, n, e) for rel, n, e in events if not e.get("sg_event_id")]
    kept: dict[str, tuple] = {}
    for rel, n, event in events:
        if event.get("sg_event_id"):
            kept.setdefault(event["sg_event_id"], (rel, n, event))
    good = len(events) - len(bad)
    assert (len(kept), len(bad), good - len(kept)) == (16, 8, 13)
    assert report.rows == {"esp_sendgrid_events": len(kept)}
    assert report.quarantined == {"esp_sendgrid_events": len(bad)}
    assert report.duplicates == {"esp_sendgrid_events": good - len(kept)}

    # Only the missing key (and, for the custom-args-only post, every required
    # field) is wrong: the capitalised "Processed" and the string timestamp of
    # 18-reserved-keys-unique-args.json read fine.
    expected_quarantine = [
        (
            rel,
            n,
            "esp_sendgrid_events",
            None,
            "; ".join(
                f"{name} is missing"
                for name in SENDGRID_REQUIRED
                if not event.get(name)
            ),
        )
        for rel, n, event in bad
    ]
    assert _quarantine(con) == sorted(expected_quarantine)
    assert Counter(row[4] for row in expected_quarantine) == {
        "sg_event_id is missing": 7,
        "sg_event_id is missing; event is missing; email is missing;"
        " timestamp is missing": 1,
    }
    reserved = "sendgrid/18-reserved-keys-unique-args.json"
    [(event_name, stamp)] = [
        (e["event"], e["timestamp"]) for rel, _, e in events if rel == reserved
    ]
    assert (event_name, stamp) == ("Processed", "123456789")
    assert [row[4] for row in _quarantine(con) if row[0] == reserved] == [
        "sg_event_id is missing"
    ]

    rows = con.execute(
        "select sg_event_id, _source_file, _source_line, event, email, occurred_at,"
        " category, bounce_type from raw.esp_sendgrid_events"
    ).fetchall()
    expected_rows = set()
    for sg_event_id, (rel, n, event) in kept.items():
        stamp = int(event["timestamp"])
        seconds = stamp / 1000 if stamp >= 10**11 else stamp
        category = event.get("category")
        if isinstance(category, list):
            category = ";".join(category) or None
        expected_rows.add(
            (
                sg_event_id,
                rel,
                n,
                event["event"].lower(),
                event["email"],
                datetime.fromtimestamp(seconds, tz=UTC),
                category,
                event.get("type"),
            )
        )
    assert set(rows) == expected_rows
    assert dict(
        con.execute(
            "select event, count(*) from raw.esp_sendgrid_events group by 1"
        ).fetchall()
    ) == {
        "processed": 4,
        "delivered": 2,
        "open": 2,
        "deferred": 1,
        "click": 1,
        "bounce": 1,
        "dropped": 1,
        "spamreport": 1,
        "unsubscribe": 1,
        "group_unsubscribe": 1,
        "group_resubscribe": 1,
    }
    by_id = {row[0]: row for row in rows}
    # The 11 placeholder ids of 00-all-event-types.json are one event: the first.
    assert by_id["sg_event_id"][1:4] == (
        "sendgrid/00-all-event-types.json",
        1,
        "processed",
    )
    # 21 (milliseconds), 22 and 27 share a placeholder id; 21 comes first.
    assert by_id["sendgrid_internal_event_id"][1:] == (
        "sendgrid/21-single-send-open.json",
        1,
        "open",
        "email@example.com",
        datetime(2020, 6, 9, 18, 19, 12, 372000, tzinfo=UTC),
        None,
        None,
    )
    # The bounce and the blocked bounce share an id: the first file's is kept.
    assert by_id["6g4ZI7SA-xmRDv57GoPIPw=="][1] == "sendgrid/05-bounce.json"
    # A bare object (not an array) is one event, at position 1.
    assert by_id["qNOzbkTuTNCdxa1eXEpnXg"][1:3] == (
        "sendgrid/23-ab-test-processed-object.json",
        1,
    )


@pytest.mark.parametrize(
    ("source", "layout", "failing_file", "detail"),
    [
        (
            "engagement",
            "mailgun/{name}",
            "mailgun/03-accepted.json",
            "unexpected file; expected sendgrid/*.json, sendgrid/*.jsonl,"
            " twilio/*.jsonl, app/*.jsonl or export.json",
        ),
        (
            "engagement",
            "sendgrid/{stem}.json",
            "sendgrid/07-failed-permanent-delayed-bounce.json",
            "does not parse as JSON",
        ),
        (
            "ehr",
            "events-api/{name}",
            "events-api/03-accepted.json",
            "is not a FHIR resource; expected one FHIR R4 resource or a Bundle",
        ),
    ],
    ids=["own-folder", "posted-as-sendgrid", "in-an-ehr-batch"],
)
def test_mailgun_events(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    source: str,
    layout: str,
    failing_file: str,
    detail: str,
) -> None:
    """Mailgun's Events API is not a contract format: its batch fails whole."""
    src = _sample("mailgun-events") / "events-api"
    paths = sorted(path for path in src.iterdir() if path.is_file())
    assert len(paths) == 17
    files = {
        layout.format(name=path.name, stem=path.name.split(".")[0]): path
        for path in paths
    }
    if layout.startswith("sendgrid/"):
        # Posted where SendGrid's webhook lands, the four strict-JSON Mailgun events
        # before it would only be quarantined; the first file that is not JSON
        # fails the batch, and takes those quarantined rows with it.
        not_json = [rel for rel, path in files.items() if not _is_json(path)]
        assert not_json[0] == failing_file
        assert list(files).index(failing_file) == 4
    _land(
        landing, source, "mailgun", files, received_at=datetime(2024, 7, 23, tzinfo=UTC)
    )

    with pytest.raises(IngestError) as caught:
        ingest_source(con, landing, source)

    error = caught.value
    assert error.batch_id == f"{source}/mailgun"
    assert error.file == failing_file
    assert error.detail.startswith(detail)
    assert "expected" in error.detail
    assert _traces(con, f"{source}/mailgun") == {}
    assert _table_counts(con) == {}
    assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 0
    assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
