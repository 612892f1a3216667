"""Where an export's rows came from: models, compiled SQL, source batches (R-AUDIT).

The dbt project manifest gives the path (the segment and every model, seed and source
upstream of it). Dagster's dbt integration leaves each invocation's artifacts in
`dbt_project/target/<asset>-<run id[:7]>-<uuid>/`, so the compiled SQL of a model is
read from the invocation of the run that last built it in this home: the SQL that
actually ran, hashed with SHA-256. The load log names every batch of the raw tables
on the path, with the file hashes ingestion recorded.
"""

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

logger = logging.getLogger(__name__)


def upstream(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """`unique_id` and every node or source it depends on, in a stable order."""
    seen: list[str] = []
    pending = [unique_id]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        node = manifest.get("nodes", {}).get(current) or {}
        pending.extend((node.get("depends_on") or {}).get("nodes") or [])
    return sorted(seen)


def raw_tables(manifest: Mapping[str, Any], path: list[str]) -> list[str]:
    """The raw tables (dbt sources) on a path, by table name."""
    sources = manifest.get("sources", {})
    return sorted(
        {
            sources[uid].get("identifier") or sources[uid]["name"]
            for uid in path
            if uid in sources
        }
    )


def source_batches(
    con: duckdb.DuckDBPyConnection, entities: list[str], loaded_before: datetime
) -> list[dict[str, Any]]:
    """Every batch file of `entities` in the load log, loaded before an instant."""
    rows = con.execute(
        """
        select batch_id, source_file, entity, sha256, received_at, loaded_at,
               rows_loaded, rows_quarantined
        from raw.load_log
        where entity in (select unnest($entities)) and loaded_at <= $before
        order by received_at, batch_id, source_file
        """,
        {"entities": entities, "before": loaded_before},
    ).fetchall()
    names = (
        "batch_id",
        "source_file",
        "entity",
        "sha256",
        "received_at",
        "loaded_at",
        "rows_loaded",
        "rows_quarantined",
    )
    batches = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["received_at"] = item["received_at"].isoformat()
        item["loaded_at"] = item["loaded_at"].isoformat()
        batches.append(item)
    return batches


@cache
def _invocation_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def compiled_sql(target_root: Path, run_id: str, unique_id: str) -> str | None:
    """The compiled SQL of a model as the given run's dbt invocation compiled it."""
    for manifest_path in sorted(target_root.glob(f"*-{run_id[:7]}-*/manifest.json")):
        try:
            node = _invocation_manifest(manifest_path)["nodes"].get(unique_id) or {}
        except (OSError, ValueError):
            continue
        if node.get("compiled_code"):
            return node["compiled_code"]
    return None


def model_hashes(
    manifest: Mapping[str, Any],
    path: list[str],
    runs: Mapping[str, str | None],
    target_root: Path,
) -> list[dict[str, Any]]:
    """SHA-256 of the compiled SQL of every model on the path (None if not found).

    Args:
        manifest: The dbt project manifest.
        path: The unique ids on the export's path.
        runs: For each model's unique id, the Dagster run that last built it.
        target_root: dbt's target folder, holding the invocations' artifacts.
    """
    models = []
    for uid in path:
        node = manifest.get("nodes", {}).get(uid) or {}
        if node.get("resource_type") not in {"model", "seed"}:
            continue
        run_id = runs.get(uid)
        entry: dict[str, Any] = {
            "unique_id": uid,
            "name": node.get("name"),
            "resource_type": node["resource_type"],
            "run_id": run_id,
        }
        if node["resource_type"] == "seed":
            entry["file_sha256"] = (node.get("checksum") or {}).get("checksum")
        else:
            code = compiled_sql(target_root, run_id, uid) if run_id else None
            entry["compiled_sql_sha256"] = (
                hashlib.sha256(code.encode()).hexdigest() if code else None
            )
        models.append(entry)
    missing = [m["name"] for m in models if m.get("compiled_sql_sha256", "") is None]
    if missing:
        logger.warning("no compiled SQL found for %d models on the path", len(missing))
    return models
