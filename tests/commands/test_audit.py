"""`clearlist audit` and the role check, on a copy of the session's demo exports.

The copy keeps the shared demo home untouched: these tests write audit entries,
lineage reports and tampered files.
"""

import csv
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DemoHome, run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def audit_home(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the demo's warehouse and approved exports, and no audit log."""
    root = tmp_path_factory.mktemp("audit-home")
    shutil.copy(demo_home.warehouse, root / "warehouse.duckdb")
    shutil.copytree(
        demo_home.exports, root / "exports", ignore=shutil.ignore_patterns(".gate")
    )
    return root


@pytest.fixture(scope="module")
def export_id(audit_home: Path) -> str:
    manifests = sorted(audit_home.glob("exports/[!.]*/manifest.json"))
    assert manifests, "the demo approved no export"
    # The largest export: the one most people's disclosures go through.
    largest = max(manifests, key=lambda path: json.loads(path.read_text())["row_count"])
    return largest.parent.name


def _manifest(home: Path, export_id: str) -> dict:
    return json.loads((home / "exports" / export_id / "manifest.json").read_text())


def _people(home: Path, export_id: str) -> list[str]:
    manifest = _manifest(home, export_id)
    with (home / "exports" / export_id / manifest["file"]).open() as handle:
        return [row["person_token"] for row in csv.DictReader(handle)]


def _entries(home: Path) -> list[dict]:
    path = home / "audit" / "audit-log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_roles_refuse_and_every_command_is_logged(
    audit_home: Path, export_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = audit_home / "roles.toml"
    roles.write_text('[users]\nana = "analyst"\naudrey = "auditor"\n')
    monkeypatch.setenv("CLEARLIST_USER", "ana")
    folders = sorted(audit_home.glob("exports/*"))
    refused = run_cli(audit_home, "export", "seg_wellness_program_email")
    assert refused.returncode == 4, refused.stderr
    assert "ana (analyst) may not run `clearlist export`" in refused.stderr
    assert sorted(audit_home.glob("exports/*")) == folders

    monkeypatch.setenv("CLEARLIST_USER", "mallory")
    assert run_cli(audit_home, "audit", "verify").returncode == 4

    monkeypatch.setenv("CLEARLIST_USER", "audrey")
    verified = run_cli(audit_home, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["intact"] is True

    entries = _entries(audit_home)
    assert [(e["user"], e["action"], e["outcome"], e["exit_code"]) for e in entries][
        -3:
    ] == [
        ("ana", "export", "refused", 4),
        ("mallory", "audit verify", "refused", 4),
        ("audrey", "audit verify", "ok", 0),
    ]
    assert entries[-3]["arguments"] == ["seg_wellness_program_email"]
    assert entries[-3]["roles"] == ["analyst"]

    # Editing one entry is caught, and the line is named.
    lines = (audit_home / "audit" / "audit-log.jsonl").read_text().splitlines()
    edited = json.loads(lines[-3])
    edited["outcome"] = "ok"
    lines[-3] = json.dumps(edited)
    (audit_home / "audit" / "audit-log.jsonl").write_text("\n".join(lines) + "\n")
    broken = run_cli(audit_home, "audit", "verify")
    assert broken.returncode == 5
    assert f"broken at line {len(lines) - 2}" in broken.stderr
    roles.unlink()
    shutil.rmtree(audit_home / "audit")


def test_lineage_report_renders_and_matches_its_json(
    audit_home: Path, export_id: str
) -> None:
    import duckdb
    from playwright.sync_api import sync_playwright

    result = run_cli(audit_home, "audit", "lineage", export_id)
    assert result.returncode == 0, result.stderr
    folder = audit_home / "audit" / "lineage" / export_id
    report = json.loads((folder / "lineage.json").read_text())
    manifest = _manifest(audit_home, export_id)

    export = report["export"]
    assert export["file_intact"] is True
    assert export["sha256_now"] == manifest["sha256"]
    assert report["gate"]["passed"] is True
    assert {batch["entity"] for batch in report["source_batches"]} <= set(
        report["raw_tables"]
    )
    assert all(len(batch["sha256"]) == 64 for batch in report["source_batches"])
    with duckdb.connect(str(audit_home / "warehouse.duckdb"), read_only=True) as con:
        logged = {
            f"{batch_id}/{source_file}": sha256
            for batch_id, source_file, sha256 in con.sql(
                "select batch_id, source_file, sha256 from raw.load_log"
            ).fetchall()
        }
    for batch in report["source_batches"]:
        assert logged[batch["file"]] == batch["sha256"]
    models = {model["name"]: model for model in report["models"]}
    assert manifest["segment"] in models
    assert "dim_persons" in models
    assert all(len(model["compiled_sql_sha256"]) == 64 for model in models.values())
    # The SQL compiled for the report is the SQL that ran, where the export kept it.
    recorded = [
        model for model in models.values() if model["matches_record"] is not None
    ]
    assert all(model["matches_record"] for model in recorded), [
        model["name"] for model in recorded if not model["matches_record"]
    ]
    # Every exported column reaches a raw source field by value.
    columns = {column["column"]: column for column in report["columns"]}
    assert list(columns) == manifest["columns"]
    assert report["untraced"] == []
    for column in columns.values():
        assert any(item["dataset"].startswith("raw.") for item in column["direct"])
    if "email" in columns:
        assert {"email"} <= {item["field"] for item in columns["email"]["direct"]}
    # OpenLineage: one run event per raw table, per model and for the export.
    events = report["openlineage"]
    assert len(events) == len(report["raw_tables"]) + len(report["models"]) + 1
    assert {event["eventType"] for event in events} == {"COMPLETE"}
    file_output = events[-1]["outputs"][0]
    assert file_output["facets"]["clearlist_file"]["sha256"] == manifest["sha256"]
    assert set(file_output["facets"]["columnLineage"]["fields"]) == set(columns)

    figures = report["figures"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto((folder / "lineage.html").as_uri())
        assert page.title() == f"Lineage of export {export_id}"
        assert page.locator("section h2").all_inner_texts()[:6] == [
            "Exported file",
            "From sources to file",
            f"Source batches ({figures['source_batches']})",
            f"dbt models ({figures['models']})",
            f"Gate results ({figures['gate_checks_passed']} of"
            f" {figures['gate_checks']} checks passed)",
            f"Column lineage ({figures['columns']} exported columns)",
        ]
        for key in ("source_batches", "raw_tables", "models", "columns"):
            shown = page.locator(f'[data-figure="{key}"] text.value').text_content()
            assert shown == str(figures[key]), key
        assert page.locator("#batches tbody tr").count() == figures["source_batches"]
        assert page.locator("#models tbody tr").count() == figures["models"]
        assert page.locator("#gate tbody tr").count() == figures["gate_checks"]
        assert page.locator("#columns tbody tr").count() == figures["columns"]
        field = page.locator('[data-field="sha256_now"]').inner_text()
        assert field == manifest["sha256"]
        assert page.locator('[data-field="file_intact"]').inner_text() == "intact"
        assert page.locator('[data-field="row_count"]').inner_text() == str(
            manifest["row_count"]
        )
        # Box sizes are real: the figure is laid out, not an empty element.
        box = page.locator('[data-figure="models"] rect').bounding_box()
        assert box is not None and box["width"] > 100
        browser.close()


def test_lineage_report_escapes_what_it_shows(
    audit_home: Path, export_id: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from pipelines.lib.audit.lineage import write_reports

    folder = audit_home / "audit" / "lineage" / export_id
    if not (folder / "lineage.json").exists():
        assert run_cli(audit_home, "audit", "lineage", export_id).returncode == 0
    report = json.loads((folder / "lineage.json").read_text())
    hostile = "<img src=x onerror=\"document.title='owned'\"><script>alert(1)</script>"
    report["export"]["recipient"] = hostile
    report["export"]["segment"] = hostile
    html_path, _ = write_reports(report, tmp_path)
    assert "<script>alert" not in html_path.read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(html_path.as_uri())
        assert page.title() == f"Lineage of export {export_id}"
        assert page.locator('[data-field="recipient"]').inner_text() == hostile
        assert page.locator("#export img, script").count() == 0
        browser.close()


def test_lineage_of_an_unknown_or_malformed_export_fails_clearly(
    audit_home: Path,
) -> None:
    unknown = run_cli(audit_home, "audit", "lineage", "xdoesnotexist")
    assert unknown.returncode == 1
    assert "no export xdoesnotexist" in unknown.stderr
    escape = run_cli(audit_home, "audit", "lineage", "../../etc")
    assert escape.returncode == 1
    assert "is not an export id" in escape.stderr


def test_disclosures_list_exactly_the_exports_of_a_person(
    audit_home: Path, export_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from pipelines import env
    from pipelines.lib.audit.disclosures import disclosures_of

    manifest = _manifest(audit_home, export_id)
    people = _people(audit_home, export_id)
    person = people[0]
    result = run_cli(audit_home, "audit", "disclosures", "--person", person, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    listed = {item["export_id"]: item for item in report["disclosures"]}
    assert export_id in listed
    item = listed[export_id]
    assert item["membership"] == "listed"
    assert item["data_elements"] == manifest["columns"]
    assert (item["recipient"], item["purpose"]) == (
        manifest["recipient"],
        manifest["purpose"],
    )
    # TPO and authorized disclosures are exempt from 164.528; anything else counts.
    exempt = item["basis"] in {"authorization", "treatment", "health_care_operations"}
    assert item["accountable"] is not exempt
    if manifest["purpose"] == "MARKETING":
        assert item["authorizations"], "an approved marketing row needs one"

    with duckdb.connect(str(audit_home / "warehouse.duckdb"), read_only=True) as con:
        mrn = con.execute(
            "select mrn from intermediate.int_source_records_linked"
            " where person_id = ? and mrn is not null limit 1",
            [person],
        ).fetchone()
        outsider = con.execute(
            "select person_id from marts.dim_persons"
            " where person_id not in (select unnest(?::varchar[])) limit 1",
            [people],
        ).fetchone()[0]
    home = env.Home(audit_home)
    if mrn:
        assert disclosures_of(home, mrn=mrn[0])["person"] == person
    assert export_id not in {
        item["export_id"]
        for item in disclosures_of(home, person=outsider)["disclosures"]
    }
    # Six years back, and no further.
    later = datetime.fromisoformat(manifest["exported_at"]) + timedelta(days=7 * 365)
    assert disclosures_of(home, person=person, now=later)["disclosures"] == []


def test_a_changed_file_cannot_rule_anyone_out(
    audit_home: Path, export_id: str
) -> None:
    copy_id = "xchangedcopy0001"
    shutil.copytree(
        audit_home / "exports" / export_id, audit_home / "exports" / copy_id
    )
    manifest = _manifest(audit_home, copy_id)
    audience = audit_home / "exports" / copy_id / manifest["file"]
    audience.write_text(audience.read_text().splitlines()[0] + "\n")
    try:
        result = run_cli(
            audit_home, "audit", "disclosures", "--person", "no-such-person", "--json"
        )
        listed = {
            item["export_id"]: item for item in json.loads(result.stdout)["disclosures"]
        }
        assert listed[copy_id]["membership"] == "unknown: the file changed since export"
        assert export_id not in listed
    finally:
        shutil.rmtree(audit_home / "exports" / copy_id)


def test_the_demo_left_a_verified_log_of_its_exports(demo_home: DemoHome) -> None:
    from pipelines.lib.audit.log import read_entries, verify

    result = verify(demo_home.root)
    assert result.intact, result.reason
    entries = read_entries(demo_home.root)
    demo = [entry for entry in entries if entry["action"] == "demo"]
    assert [(entry["outcome"], entry["exit_code"]) for entry in demo][:1] == [("ok", 0)]
    approved = sorted(
        entry["detail"]["export_id"]
        for entry in entries
        if entry["action"] == "export.approved"
    )
    on_disk = sorted(
        path.parent.name for path in demo_home.exports.glob("[!.]*/manifest.json")
    )
    assert approved == on_disk
    blocked = sorted(
        entry["detail"]["report"]
        for entry in entries
        if entry["action"] == "export.blocked"
    )
    assert blocked == sorted(
        path.parent.name for path in demo_home.exports.glob("[!.]*/blocked.json")
    )
    for entry in entries:
        if entry["action"] == "export.approved":
            manifest = _manifest(demo_home.root, entry["detail"]["export_id"])
            assert entry["detail"]["sha256"] == manifest["sha256"]
