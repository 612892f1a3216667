"""`clearlist export` when the gate blocks, and `clearlist exports list|recheck`, on a
copy of the session's demo home (its warehouse and its approved export)."""

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DemoHome, run_cli

pytestmark = pytest.mark.slow

SEGMENT = "seg_wellness_program_email"
EXIT_BLOCKED = 3
EXIT_FLAGGED = 6


def _home(demo_home: DemoHome, root: Path) -> Path:
    shutil.copy(demo_home.warehouse, root / "warehouse.duckdb")
    shutil.copytree(
        demo_home.exports, root / "exports", ignore=shutil.ignore_patterns(".*")
    )
    return root


def _approved(home: Path) -> dict:
    manifests = [
        json.loads(path.read_text())
        for path in (home / "exports").glob("*/manifest.json")
        if json.loads(path.read_text())["segment"] == SEGMENT
    ]
    assert len(manifests) == 1
    return manifests[0]


def test_recheck_flags_an_export_when_a_revocation_loads_late(
    demo_home: DemoHome, tmp_path: Path
):
    home = _home(demo_home, tmp_path)
    manifest = _approved(home)
    export_id = manifest["export_id"]

    listed = run_cli(home, "exports", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {item["export_id"]: item["outcome"] for item in json.loads(listed.stdout)}[
        export_id
    ] == "approved"

    clean = run_cli(home, "exports", "recheck", "--export", export_id, "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert [e["status"] for e in json.loads(clean.stdout)["exports"]] == ["ok"]

    # A revocation written the day before the export's as_of, in a batch that only
    # loads now: the export went out on a ledger that did not know it yet.
    keys = json.loads((home / "exports" / export_id / "person_keys.json").read_text())
    person = keys["person_keys"][0]
    received = datetime.fromisoformat(manifest["as_of"]) - timedelta(days=1)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(
            """
            insert into marts.fct_authorizations
            select * replace (
                'revoked' as status, $received as revoked_at,
                $received as known_at, null as superseded_at,
                'crm/crm-late' as batch_id
            )
            from marts.fct_authorizations
            where person_id = $person
            """,
            {"person": person, "received": received},
        )
        con.execute(
            """
            insert into raw.load_log (batch_id, source, source_file, sha256, entity,
                rows_loaded, rows_quarantined, received_at, loaded_at)
            values ('crm/crm-late', 'crm', 'AuthorizationFormConsent.csv', 'cd',
                'crm_authorization_form_consents', 1, 0, $received, now())
            """,
            {"received": received},
        )

    flagged = run_cli(home, "exports", "recheck", "--json")
    assert flagged.returncode == EXIT_FLAGGED, flagged.stdout + flagged.stderr
    report = json.loads(flagged.stdout)
    # Every export that sent this person on an authorization-based purpose is flagged
    # (the demo may have more than one); no export without them is.
    assert export_id in report["flagged"]
    for flagged_id in report["flagged"]:
        sent = json.loads(
            (home / "exports" / flagged_id / "person_keys.json").read_text()
        )["person_keys"]
        assert person in sent, flagged_id
    item = next(e for e in report["exports"] if e["export_id"] == export_id)
    assert item["status"] == "incident_review"
    assert item["file_intact"] is True
    failures = {f["rule_id"]: f for f in item["failures"]}
    assert failures["R-AUTH-REV"]["unexpected_count"] == 1
    assert failures["R-AUTH-REV"]["person_keys"] == [person]
    assert [b["batch_id"] for b in item["late_batches"]] == ["crm/crm-late"]
    assert "incident review" in flagged.stderr


def test_a_blocked_export_writes_no_file_and_materializes_nothing(
    demo_home: DemoHome, tmp_path: Path
):
    """A real export run: the segment builds, the gate blocks, the export never runs."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    home = _home(demo_home, tmp_path)
    shutil.rmtree(home / "exports")
    as_of = _approved_as_of(demo_home)

    # Acme Pharma is a third party: only authorizations naming it would do.
    result = run_cli(
        home, "export", SEGMENT, "--as-of", as_of, "--recipient", "Acme Pharma"
    )
    assert result.returncode == EXIT_BLOCKED, result.stdout + result.stderr
    assert "R-RECIP" in result.stderr
    folders = [p for p in (home / "exports").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1
    blocked = json.loads((folders[0] / "blocked.json").read_text())
    assert blocked["gate"]["passed"] is False
    assert "R-RECIP" in blocked["summary"]
    assert (folders[0] / "data-docs" / "index.html").exists()
    assert not list((home / "exports").rglob("audience-*"))
    assert not list((home / "exports").rglob("manifest.json"))

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    try:
        assert (
            instance.get_latest_materialization_event(dg.AssetKey(["exports", SEGMENT]))
            is None
        )
        built = instance.fetch_materializations(_segment_key(), limit=1).records
        assert built, "the segment itself was built in the run"
    finally:
        instance.dispose()


def _approved_as_of(demo_home: DemoHome) -> str:
    for path in demo_home.exports.glob("*/manifest.json"):
        manifest = json.loads(path.read_text())
        if manifest["segment"] == SEGMENT:
            return manifest["as_of"]
    raise AssertionError("the demo approved no export of " + SEGMENT)


def _segment_key():
    from pipelines.defs.export.assets import segment_key

    return segment_key(SEGMENT)
