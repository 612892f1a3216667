"""`clearlist demo` end to end: generate, ingest, dbt, gate and export, for real."""

import csv
import hashlib
import json

import duckdb
import pytest

from tests.conftest import DemoHome

pytestmark = pytest.mark.slow

SEGMENT = "seg_wellness_program_email"


def _manifests(home: DemoHome) -> list[dict]:
    return [
        json.loads(path.read_text())
        for path in sorted(home.exports.glob("*/manifest.json"))
    ]


def _segment_manifest(home: DemoHome) -> dict:
    manifests = [m for m in _manifests(home) if m["segment"] == SEGMENT]
    assert len(manifests) == 1
    return manifests[0]


def _audience_rows(home: DemoHome, manifest: dict) -> list[dict]:
    path = home.exports / manifest["export_id"] / manifest["file"]
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_demo_prints_where_the_files_and_report_are(demo_home: DemoHome):
    assert "approved audience files" in demo_home.stdout
    report = demo_home.root / "reports" / "demo-report.json"
    assert report.exists()
    content = json.loads(report.read_text())
    outcomes = content["exports"]
    assert [o["outcome"] for o in outcomes] == ["approved"] * len(outcomes)
    checks = {row["check"]: row["records"] for row in content["data_quality"]}
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        quarantined = set(
            con.sql(
                "select _batch_id || '/' || _source_file, _source_line"
                " from raw.quarantine"
            ).fetchall()
        )
    # Every planted row that breaks the contract is quarantined where the plan says;
    # an unknown purpose is kept (it grants nothing) and a replay is dropped.
    kept_or_dropped = ("unknown purpose", "duplicate")
    planted = {
        (row["file"], row["line"])
        for row in demo_home.plan["malformed"]
        if not any(word in row["reason"] for word in kept_or_dropped)
    }
    assert planted
    assert quarantined == planted
    assert checks["quarantined_records"] == len(quarantined)


def test_export_manifest_describes_the_file(demo_home: DemoHome):
    manifest = _segment_manifest(demo_home)
    path = demo_home.exports / manifest["export_id"] / manifest["file"]

    assert manifest["purpose"] == "MARKETING"
    assert manifest["channel"] == "email"
    assert manifest["gate"]["passed"] is True
    assert manifest["columns"] == ["person_token", "email", "first_name"]
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["row_count"] == len(_audience_rows(demo_home, manifest)) > 0
    # The file's name is opaque: it never names the segment or its topic.
    assert "wellness" not in manifest["file"]


def test_what_the_recipient_gets_names_only_the_export_id(demo_home: DemoHome):
    """R-OPAQUE: the outbound folder holds the file and a manifest of the id only."""
    manifest = _segment_manifest(demo_home)
    folder = demo_home.exports / manifest["export_id"]
    export_id = manifest["export_id"]
    assert sorted(path.name for path in (folder / "outbound").iterdir()) == [
        f"audience-{export_id}.csv",
        f"manifest-{export_id}.json",
    ]
    sent = json.loads((folder / manifest["recipient_manifest"]).read_text())
    assert sent["sha256"] == manifest["sha256"]
    text = json.dumps(sent).lower()
    for word in ("wellness", "seg_", "marketing", manifest["purpose"].lower()):
        assert word not in text


def test_the_internal_manifest_records_provenance(demo_home: DemoHome):
    manifest = _segment_manifest(demo_home)
    assert manifest["rule_set_version"].startswith("rs-")
    assert manifest["operator"]
    assert manifest["recipient"] == "CoveredEntity"
    batches = manifest["source_batches"]
    assert batches and all(len(batch["sha256"]) == 64 for batch in batches)
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        logged = {
            (batch_id, source_file, sha256)
            for batch_id, source_file, sha256 in con.sql(
                "select batch_id, source_file, sha256 from raw.load_log"
            ).fetchall()
        }
    assert {(b["batch_id"], b["source_file"], b["sha256"]) for b in batches} <= logged
    models = {model["name"]: model for model in manifest["models"]}
    assert {SEGMENT, "dim_persons", "fct_authorizations"} <= set(models)
    hashed = [m for m in models.values() if m["resource_type"] == "model"]
    assert all(len(m["compiled_sql_sha256"] or "") == 64 for m in hashed)
    checks = {check["expectation"]: check for check in manifest["gate"]["checks"]}
    assert checks["inputs_unchanged_since_build"]["success"] is True
    assert checks["decided_by_the_current_rule_set"]["success"] is True


def test_data_docs_are_kept_with_the_export_and_free_of_row_values(
    demo_home: DemoHome,
):
    manifest = _segment_manifest(demo_home)
    docs = demo_home.exports / manifest["export_id"] / "data-docs"
    assert (docs / manifest["data_docs"].removeprefix("data-docs/")).exists()
    pages = "".join(path.read_text() for path in docs.rglob("*.html"))
    assert "audience.critical" in pages
    emails = [row["email"] for row in _audience_rows(demo_home, manifest)]
    assert emails and not any(email in pages for email in emails)


def test_exported_rows_match_the_eligibility_model(demo_home: DemoHome):
    manifest = _segment_manifest(demo_home)
    exported = {row["person_token"] for row in _audience_rows(demo_home, manifest)}
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        eligible = {
            row[0]
            for row in con.execute(
                """
                select eligibility.person_id
                from marts.eligibility as eligibility
                inner join marts.dim_persons as persons
                    on eligibility.person_id = persons.person_id
                where eligibility.purpose_code = 'MARKETING'
                  and eligibility.channel = 'email'
                  and eligibility.is_eligible
                  and persons.has_ehr_record
                """
            ).fetchall()
        }
    # The standing marketing-email verdict has no list and no topic, so it is
    # stricter than the segment's: everyone it allows must be in the file, and the
    # file may add only people excluded there for another list's opt-out or a
    # topic-narrowed authorization.
    assert eligible <= exported
    assert exported, "the demo export is empty"


def test_planted_situations_reach_the_file_as_expected(demo_home: DemoHome):
    manifest = _segment_manifest(demo_home)
    exported_emails = {row["email"] for row in _audience_rows(demo_home, manifest)}
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        emails_by_contact = dict(
            con.execute(
                "select contact_id, lower(trim(email)) from raw.crm_contacts"
            ).fetchall()
        )
    scenarios = demo_home.plan["scenarios"]
    revoked = scenarios["revoked"]["contact_ids"]
    assert revoked, "the generator planted no revoked authorization"
    for contact_id in revoked:
        assert emails_by_contact[contact_id] not in exported_emails
    for name, scenario in scenarios.items():
        if name == "unverified_duplicate":
            continue  # two records share one address; the person has no consent
        for contact_id in scenario["contact_ids"]:
            email = emails_by_contact.get(contact_id)
            if email is None:
                continue
            assert (email in exported_emails) == scenario["expected_eligible"], name
