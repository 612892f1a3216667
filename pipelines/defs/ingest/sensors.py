"""Start ingestion when a new batch lands.

The sensor lists the batch folders under `landing/<source>/` and compares them with
the warehouse's load log. A batch that is not in the log, and whose files have not
changed for `CLEARLIST_LANDING_SETTLE_SECONDS` (a copy still in progress is left for
the next tick), asks for one run of the `ingest` job. The run key is the set of
pending batches with their file sizes and times, so the same pending set asks only
once, and a batch that failed to load is retried only once its files change.
"""

import hashlib
import time
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import env
from pipelines.defs.resources import Warehouse
from pipelines.lib.ingest import SOURCES
from pipelines.lib.ingest.landing import batch_files

LANDING_SENSOR = "landing_sensor"


def pending_batches(
    landing: Path, loaded: set[str], *, settle_seconds: float, now: float
) -> dict[str, str]:
    """Return each settled batch folder not loaded yet, with a signature of its files.

    Args:
        landing: The landing folder.
        loaded: Batch ids (`<source>/<batch>`) already in the load log.
        settle_seconds: How long a batch's newest file must have been left alone.
        now: The current time, in seconds since the epoch.

    Returns:
        Batch id to a digest of its files' names, sizes and modification times.
    """
    pending = {}
    for source in SOURCES:
        root = landing / source
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            batch_id = f"{source}/{folder.name}"
            if folder.name.startswith(".") or batch_id in loaded:
                continue
            files, _ = batch_files(folder)
            if not files:
                continue
            stats = [(rel, path.stat()) for rel, path in files]
            if now - max(stat.st_mtime for _, stat in stats) < settle_seconds:
                continue
            digest = hashlib.sha256()
            for rel, stat in stats:
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            pending[batch_id] = digest.hexdigest()
    return pending


def _loaded_batches(warehouse: Warehouse) -> set[str] | None:
    """Batch ids in the load log; None while a run holds the warehouse."""
    try:
        with warehouse.connect(read_only=True) as con:
            has_log = con.execute(
                "select count(*) from information_schema.tables"
                " where table_schema = 'raw' and table_name = 'load_log'"
            ).fetchone()
            if not has_log or not has_log[0]:
                return set()
            rows = con.execute("select distinct batch_id from raw.load_log").fetchall()
    except FileNotFoundError:
        return set()
    except duckdb.IOException:
        return None
    return {row[0] for row in rows}


@dg.sensor(
    name=LANDING_SENSOR,
    job_name="ingest",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the ingest job when a new, settled batch lands in landing/.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, warehouse: Warehouse
) -> dg.SensorResult | dg.SkipReason:
    """Ask for an ingest run when landing/ holds settled batches not loaded yet."""
    loaded = _loaded_batches(warehouse)
    if loaded is None:
        return dg.SkipReason("the warehouse is busy with a run; looking again later")
    pending = pending_batches(
        env.home().landing,
        loaded,
        settle_seconds=env.landing_settle_seconds(),
        now=time.time(),
    )
    if not pending:
        return dg.SkipReason("no new settled batch in landing/")
    run_key = hashlib.sha256(
        "\n".join(f"{bid}\0{sig}" for bid, sig in sorted(pending.items())).encode()
    ).hexdigest()
    context.log.info("%d new batches in landing/: requesting ingest", len(pending))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                tags={"clearlist/batches": ",".join(sorted(pending))[:1000]},
            )
        ]
    )
