"""Ingest every new batch of one source system, oldest `received_at` first."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.landing import Batch, content_hash, discover_batches
from pipelines.lib.ingest.load import (
    BatchResult,
    ensure_raw_schema,
    load_batch,
    loaded_files,
)
from pipelines.lib.ingest.plan import SOURCES, plan_batch

logger = logging.getLogger(__name__)


@dataclass
class SourceReport:
    """What one ingestion run of a source did, summed over its batches.

    Attributes:
        source: `ehr`, `crm` or `engagement`.
        batches_loaded: Batch ids (`<source>/<batch>`) loaded by this run.
        batches_skipped: Batch ids already loaded (by name, or with the same content
            under another name) or holding no data file.
        rows: Rows inserted per raw table.
        quarantined: Rows put in `raw.quarantine`, per raw table.
        duplicates: Rows not inserted because the same record version was already
            in raw (a replay), per raw table.
        skipped_records: Records in files the contract does not read, per type
            (FHIR resource type, Synthea table, Salesforce object).
        ignored_files: Documentation and hidden files passed over, as
            `<batch id>/<file>`.
    """

    source: str
    batches_loaded: list[str] = field(default_factory=list)
    batches_skipped: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)
    ignored_files: list[str] = field(default_factory=list)

    def add(self, result: BatchResult) -> None:
        """Add one loaded batch's counts."""
        self.batches_loaded.append(result.batch_id)
        for mine, theirs in (
            (self.rows, result.rows),
            (self.quarantined, result.quarantined),
            (self.duplicates, result.duplicates),
            (self.skipped_records, result.skipped_records),
        ):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    source: str,
    *,
    loaded_at: datetime | None = None,
) -> SourceReport:
    """Load every batch of `landing/<source>/` not loaded yet into schema `raw`.

    Batches go in order of `received_at`, each in one transaction. A batch already
    in `raw.load_log` with the same files, or with the same content under another
    name, is skipped.

    Args:
        con: The warehouse.
        landing: The landing folder (holding `ehr/`, `crm/`, `engagement/`).
        source: One of `SOURCES`.
        loaded_at: The load time recorded on every row; now if unset.

    Returns:
        What was loaded, skipped, quarantined and dropped as replays.

    Raises:
        IngestError: A batch does not load (nothing of it remains; batches before
            it stay loaded, batches after it are not tried), or an already loaded
            batch name holds changed files.
        ValueError: `source` is not one of `SOURCES`.
    """
    if source not in SOURCES:
        msg = f"unknown source {source!r}; expected one of {', '.join(SOURCES)}"
        raise ValueError(msg)
    loaded_at = loaded_at or datetime.now(UTC)
    ensure_raw_schema(con)
    report = SourceReport(source)
    previous = loaded_files(con, source)
    by_content = {content_hash(files.items()): bid for bid, files in previous.items()}
    for batch in discover_batches(landing, source):
        report.ignored_files += [f"{batch.batch_id}/{rel}" for rel in batch.ignored]
        if batch.batch_id in previous:
            _check_unchanged(batch, previous[batch.batch_id])
            logger.info("%s: already loaded; skipped", batch.batch_id)
            report.batches_skipped.append(batch.batch_id)
            continue
        twin = by_content.get(batch.content_sha256)
        if twin is not None:
            logger.info(
                "%s: same content as %s, already loaded; skipped", batch.batch_id, twin
            )
            report.batches_skipped.append(batch.batch_id)
            continue
        if not batch.files:
            logger.warning("%s: no data file; skipped", batch.batch_id)
            report.batches_skipped.append(batch.batch_id)
            continue
        result = load_batch(con, batch, plan_batch(batch), loaded_at=loaded_at)
        report.add(result)
        by_content[batch.content_sha256] = batch.batch_id
        logger.info(
            "%s: loaded %d rows into %d raw tables, %d quarantined, %d replays dropped",
            batch.batch_id,
            sum(result.rows.values()),
            len(result.rows),
            sum(result.quarantined.values()),
            sum(result.duplicates.values()),
        )
    return report


def _check_unchanged(batch: Batch, loaded: dict[str, str]) -> None:
    """Raise unless the batch holds exactly the files it was loaded with."""
    current = {f.rel: f.sha256 for f in batch.files}
    for rel in sorted(current.keys() | loaded.keys()):
        if rel not in loaded:
            problem = "was added after the batch was loaded"
        elif rel not in current:
            problem = "was removed after the batch was loaded"
        elif current[rel] != loaded[rel]:
            problem = "changed after the batch was loaded"
        else:
            continue
        msg = (
            f"{problem}; a loaded batch must not change: land the change as a new batch"
        )
        raise IngestError(msg, batch_id=batch.batch_id, file=rel)
