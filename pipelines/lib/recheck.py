"""Past exports, judged again against the ledger as it now stands (RULES.md 1.3).

A fact that reached the organization before an export's `as_of` counts for that
export even when its file loaded later: a revocation received on Monday and loaded
on Wednesday makes Tuesday's export a possible unauthorized disclosure (45 CFR
164.400-414). `recheck_export` runs the gate's own row queries (`gate_frame`) at
each export's `as_of` over the rows it sent (its audience file, checked against the
manifest's hash, keyed by the person keys kept inside) and flags the export for
incident review when any row fails now. It never rewrites an export.

Results name exports, rule ids, counts and person keys: never row values.
"""

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib.export import STAGING_PREFIX, file_sha256
from pipelines.lib.gate import (
    GATE_RULES,
    MAX_PERSON_KEYS,
    Communication,
    gate_frame,
)

logger = logging.getLogger(__name__)

OK = "ok"
INCIDENT = "incident_review"


class RecheckError(RuntimeError):
    """An export that cannot be rechecked: its manifest or files are unreadable."""


def list_exports(exports_dir: Path) -> list[dict[str, Any]]:
    """Every export folder with its outcome: approved, blocked, or incomplete."""
    found = []
    if not exports_dir.exists():
        return found
    for folder in sorted(exports_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", STAGING_PREFIX)):
            continue
        manifest, blocked = folder / "manifest.json", folder / "blocked.json"
        if manifest.exists():
            document = json.loads(manifest.read_text())
            outcome = "approved"
        elif blocked.exists():
            document = json.loads(blocked.read_text())
            outcome = "blocked"
        else:
            found.append({"export_id": folder.name, "outcome": "incomplete"})
            continue
        found.append(
            {
                "export_id": folder.name,
                "outcome": outcome,
                "segment": document.get("segment"),
                "purpose": document.get("purpose"),
                "channel": document.get("channel"),
                "recipient": document.get("recipient"),
                "as_of": document.get("as_of"),
                "at": document.get("exported_at") or document.get("blocked_at"),
                "rows": document.get("row_count"),
                "format": document.get("format"),
                "summary": document.get("summary"),
            }
        )
    return sorted(found, key=lambda item: str(item.get("at") or ""))


def _communication(manifest: dict[str, Any]) -> Communication:
    declared = manifest.get("communication")
    if not declared:
        msg = f"export {manifest.get('export_id')} records no communication"
        raise RecheckError(msg)
    return Communication(
        **{
            key: tuple(value) if isinstance(value, list) else value
            for key, value in declared.items()
        }
    )


def _read_audience(folder: Path, manifest: dict[str, Any]) -> pa.Table:
    path = folder / manifest["file"]
    if not path.exists():
        msg = f"export {manifest['export_id']} has no audience file {manifest['file']}"
        raise RecheckError(msg)
    if manifest.get("format") == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    from pyarrow import csv

    columns = manifest["columns"]
    return csv.read_csv(
        path,
        convert_options=csv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=True,
        ),
    )


def recheck_export(
    con: duckdb.DuckDBPyConnection, folder: Path, *, now: datetime | None = None
) -> dict[str, Any]:
    """Judge one past export again, at its own `as_of`, on today's ledger.

    Returns:
        The export id, segment, `as_of`, status (`ok` or `incident_review`), the
        failed row checks with rule id, count and person keys, whether the file
        still matches its manifest, and the batches loaded after the export.
    """
    manifest = json.loads((folder / "manifest.json").read_text())
    communication = _communication(manifest)
    as_of = datetime.fromisoformat(manifest["as_of"])
    keys = json.loads((folder / "person_keys.json").read_text())["person_keys"]
    audience = _read_audience(folder, manifest)
    file_intact = file_sha256(folder / manifest["file"]) == manifest.get("sha256")
    if audience.num_rows != len(keys):
        msg = (
            f"export {manifest['export_id']}: {audience.num_rows} rows but"
            f" {len(keys)} person keys"
        )
        raise RecheckError(msg)
    rows = audience.append_column("person_id", pa.array(keys, pa.string()))
    rows = rows.append_column("is_included", pa.array([True] * rows.num_rows))
    view = f"recheck_{manifest['export_id']}"
    con.register(view, rows)
    try:
        frame = gate_frame(
            con,
            view,
            communication,
            as_of,
            recipients=tuple(manifest.get("recipients") or communication.recipients),
        )
    finally:
        con.unregister(view)
    failures = []
    for column, rule_id, _ in GATE_RULES:
        failing = frame.filter(pc.invert(frame[column]))
        if failing.num_rows:
            failures.append(
                {
                    "rule_id": rule_id,
                    "column": column,
                    "unexpected_count": failing.num_rows,
                    "person_keys": sorted(failing["person_id"].to_pylist())[
                        :MAX_PERSON_KEYS
                    ],
                }
            )
    exported_at = datetime.fromisoformat(manifest["exported_at"])
    late = con.execute(
        """
        select batch_id, source_file, entity, sha256, received_at, loaded_at
        from raw.load_log
        where loaded_at > $exported and received_at <= $as_of
        order by loaded_at, batch_id, source_file
        """,
        {"exported": exported_at, "as_of": as_of},
    ).fetchall()
    status = INCIDENT if failures or not file_intact else OK
    if status == INCIDENT:
        logger.warning(
            "export %s flagged for incident review: %d failed checks",
            manifest["export_id"],
            len(failures),
        )
    return {
        "export_id": manifest["export_id"],
        "segment": manifest.get("segment"),
        "as_of": manifest["as_of"],
        "exported_at": manifest["exported_at"],
        "rows": audience.num_rows,
        "status": status,
        "file_intact": file_intact,
        "failures": failures,
        "late_batches": [
            {
                "batch_id": b,
                "source_file": f,
                "entity": e,
                "sha256": s,
                "received_at": r.isoformat(),
                "loaded_at": loaded.isoformat(),
            }
            for b, f, e, s, r, loaded in late
        ],
        "rechecked_at": (now or datetime.now(as_of.tzinfo)).isoformat(),
    }
