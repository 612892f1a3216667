"""Audience files: spreadsheet-safe, opaque to the recipient, and written whole or not
at all, even when the process dies between writing and publishing."""

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lib.export import (
    ExportError,
    file_sha256,
    spreadsheet_safe,
    write_audience,
    write_blocked,
)
from pipelines.lib.gate import GateResult, rows_fingerprint
from pipelines.lib.recheck import list_exports
from tests.conftest import REPO_ROOT

SEGMENT = "seg_hiv_outreach_email"  # a name that must never reach the recipient


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+SUM(A1:A2)", "'+SUM(A1:A2)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("-42", "-42"),
        ("+3.5", "+3.5"),
        ("+15551234567", "+15551234567"),
        ("+1555", "+1555"),
        ("ana@example.org", "ana@example.org"),
        ("Ana", "Ana"),
        (None, None),
        (7, 7),
    ],
)
def test_spreadsheet_safe(value, expected):
    assert spreadsheet_safe(value) == expected


def _rows() -> pa.Table:
    return pa.table(
        {
            "person_token": ["p1", "p2", "p3"],
            "email": ["a@example.org", "=cmd|' /C calc'!A0", "c@example.org"],
            "first_name": ["Ana", "+Bo", None],
        }
    )


def _gate(rows: pa.Table, *, passed: bool = True) -> GateResult:
    return GateResult(
        segment=SEGMENT,
        as_of="2026-06-01T09:00:00+00:00",
        passed=passed,
        row_count=rows.num_rows,
        rows_fingerprint=rows_fingerprint(rows),
        failures=[] if passed else [{"rule_id": "R-GATE", "unexpected_count": 1}],
    )


DETAILS = {
    "segment": SEGMENT,
    "purpose": "MARKETING",
    "marketing_topic": "hiv-outreach",
    "as_of": "2026-06-01T09:00:00+00:00",
}


def test_the_recipient_sees_only_the_export_id(tmp_path: Path):
    rows = _rows()
    docs = tmp_path / "gate-docs"
    docs.mkdir()
    (docs / "index.html").write_text("<html>audience.critical</html>")
    exported = write_audience(
        rows,
        exports_dir=tmp_path / "exports",
        gate=_gate(rows),
        details=DETAILS,
        person_keys=["p1", "p2", "p3"],
        docs_dir=docs,
    )
    folder = tmp_path / "exports" / exported.export_id
    # The Data Docs stay inside, with the internal manifest, never in outbound/.
    assert (folder / exported.manifest["data_docs"]).exists()
    assert not docs.exists()
    outbound = sorted(path.name for path in (folder / "outbound").iterdir())
    assert outbound == [
        f"audience-{exported.export_id}.csv",
        f"manifest-{exported.export_id}.json",
    ]
    sent = b"".join(path.read_bytes() for path in (folder / "outbound").iterdir())
    for word in (b"hiv", b"seg_", b"marketing", b"outreach"):
        assert word not in sent.lower()
    recipient = json.loads(exported.recipient_manifest_path.read_text())
    assert set(recipient) == {
        "export_id",
        "file",
        "format",
        "columns",
        "row_count",
        "sha256",
        "created_at",
    }
    assert recipient["sha256"] == file_sha256(exported.audience_path)
    # The internal manifest keeps everything, and points at the file it describes.
    assert exported.manifest["segment"] == SEGMENT
    assert folder / exported.manifest["file"] == exported.audience_path
    with exported.audience_path.open(newline="", encoding="utf-8") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["person_token", "email", "first_name"]
    assert written[2] == ["p2", "'=cmd|' /C calc'!A0", "'+Bo"]
    assert written[3] == ["p3", "c@example.org", ""]


def test_parquet_is_written_whole_and_typed(tmp_path: Path):
    rows = _rows()
    exported = write_audience(
        rows,
        exports_dir=tmp_path,
        gate=_gate(rows),
        details=DETAILS,
        person_keys=["p1", "p2", "p3"],
        export_format="parquet",
    )
    assert exported.audience_path.suffix == ".parquet"
    assert pq.read_table(exported.audience_path).equals(rows)
    assert exported.manifest["sha256"] == file_sha256(exported.audience_path)
    assert not list(tmp_path.rglob(".partial-*"))


def test_nothing_is_written_without_a_passing_gate_on_these_rows(tmp_path: Path):
    rows = _rows()
    with pytest.raises(ExportError, match="blocked"):
        write_audience(
            rows,
            exports_dir=tmp_path,
            gate=_gate(rows, passed=False),
            details=DETAILS,
            person_keys=["p1", "p2", "p3"],
        )
    other = _gate(rows.slice(0, 2))
    with pytest.raises(ExportError, match="changed after the gate passed"):
        write_audience(
            rows,
            exports_dir=tmp_path,
            gate=other,
            details=DETAILS,
            person_keys=["p1", "p2", "p3"],
        )
    assert list(tmp_path.iterdir()) == []
    report = write_blocked(
        exports_dir=tmp_path, gate=_gate(rows, passed=False), details=DETAILS
    )
    assert json.loads(report.read_text())["outcome"] == "blocked"
    assert not (report.parent / "outbound").exists()


CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import pyarrow as pa
    from pipelines.lib import export
    from pipelines.lib.gate import GateResult, rows_fingerprint

    rows = pa.table({"person_token": ["p1", "p2"], "email": ["a@x.org", "b@x.org"]})
    gate = GateResult(segment="s", as_of="2026-06-01T09:00:00+00:00", passed=True,
                      row_count=2, rows_fingerprint=rows_fingerprint(rows))
    if sys.argv[2] == "crash":
        # Die between writing every file and publishing the folder.
        export._publish = lambda staging, final: os._exit(137)
    done = export.write_audience(rows, exports_dir=Path(sys.argv[1]), gate=gate,
                                 details={"segment": "s"}, person_keys=["p1", "p2"])
    print(done.export_id)
    """
)


def _export_in_child(exports: Path, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CRASH, str(exports), mode],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def test_a_process_killed_mid_export_leaves_no_partial_export(tmp_path: Path):
    exports = tmp_path / "exports"
    crashed = _export_in_child(exports, "crash")
    assert crashed.returncode == 137, crashed.stderr
    # Whatever was written sits in a hidden staging folder, never under an export id.
    assert [path.name.startswith(".staging-") for path in exports.iterdir()] == [True]
    assert list_exports(exports) == []
    assert [path for path in exports.iterdir() if not path.name.startswith(".")] == []

    again = _export_in_child(exports, "run")
    assert again.returncode == 0, again.stderr
    export_id = again.stdout.strip()
    listed = list_exports(exports)
    assert [(item["export_id"], item["outcome"]) for item in listed] == [
        (export_id, "approved")
    ]
    manifest = json.loads((exports / export_id / "manifest.json").read_text())
    audience = exports / export_id / manifest["file"]
    assert manifest["sha256"] == file_sha256(audience)
    assert audience.read_text().count("\n") == 3
