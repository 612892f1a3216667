"""Writes to DuckDB: the `raw` schema, one transaction per batch, the load log.

Rows go in through Arrow (`register` + `insert ... select`), chunk by chunk, first
into temporary scratch tables, each chunk committed on its own, so that memory stays
flat however large a batch is (DuckDB keeps a transaction's appended rows in memory,
while temporary tables spill to disk). Then one transaction moves the batch from
scratch into
`raw`, deletes the rows that replay a record already in raw (or earlier in the same
batch), writes the load log and empties scratch: the same FHIR resource version,
Salesforce `Id` + `LastModifiedDate`, SendGrid `sg_event_id`, Twilio `MessageSid` +
kind + status, or app `event_id` is kept once. Newer versions stay beside the older
ones (history, never overwritten). Raw tables change only in that transaction, so a
batch is in raw whole or not at all; temporary tables end with their connection.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from pipelines.lib.ingest.conform import ReadContext
from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.landing import Batch
from pipelines.lib.ingest.plan import Action, FilePlan, count_records
from pipelines.lib.raw_schemas import (
    CRM_TABLES,
    EHR_TABLES,
    LOAD_LOG_COLUMNS,
    QUARANTINE_COLUMNS,
    RAW_TABLES,
    table_schema,
)

logger = logging.getLogger(__name__)

SCHEMA = "raw"
SCRATCH = "temp.main"
_SCRATCH_PREFIX = "ingest_scratch__"
LOAD_LOG = f"{SCHEMA}.load_log"
QUARANTINE_TABLE = "quarantine"
QUARANTINE = f"{SCHEMA}.{QUARANTINE_TABLE}"

_SQL_TYPES = {
    pl.String: "varchar",
    pl.Int64: "bigint",
    pl.Float64: "double",
    pl.Boolean: "boolean",
    pl.Date: "date",
    pl.Datetime: "timestamptz",
}

# A FHIR resource without versionId or lastUpdated is told apart by its content.
_FHIR_VERSION = (
    "version_id",
    "last_updated_at",
    "case when version_id is null and last_updated_at is null"
    " then md5(_record_json) end",
)
REPLAY_KEYS: dict[str, tuple[str, ...]] = {
    **{
        table: (next(iter(columns)), *_FHIR_VERSION)
        for table, columns in EHR_TABLES.items()
    },
    **{
        table: (next(iter(columns)), "last_modified_at")
        for table, columns in CRM_TABLES.items()
    },
    "esp_sendgrid_events": ("sg_event_id",),
    "sms_twilio_messages": ("message_sid", "message_kind", "message_status"),
    "app_events": ("event_id",),
}
"""The SQL expressions that together say two rows are the same record version."""


@dataclass
class BatchResult:
    """What one batch load did."""

    batch_id: str
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `raw`, every raw table, `raw.load_log` and `raw.quarantine`.

    Tables that exist keep their rows; a column the contract added since is added.
    Downstream models can build on the empty tables before any data arrives.

    Raises:
        IngestError: An existing column has another type than the contract's.
    """
    con.execute(f"create schema if not exists {SCHEMA}")
    tables = {f"{SCHEMA}.{name}": table_schema(name) for name in RAW_TABLES}
    tables[LOAD_LOG] = LOAD_LOG_COLUMNS
    tables[QUARANTINE] = QUARANTINE_COLUMNS
    for name, columns in tables.items():
        _ensure_table(con, name, columns)


def _sql_type(dtype: pl.DataType) -> str:
    return _SQL_TYPES[dtype.base_type()]


def _ensure_table(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, pl.DataType]
) -> None:
    schema, table = name.split(".")
    existing = dict(
        con.execute(
            "select column_name, lower(data_type) from information_schema.columns"
            " where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )
    if not existing:
        body = ", ".join(
            f'"{col}" {_sql_type(dtype)}' for col, dtype in columns.items()
        )
        con.execute(f"create table if not exists {name} ({body})")
        return
    for col, dtype in columns.items():
        wanted = _sql_type(dtype)
        have = existing.get(col)
        if have is None:
            con.execute(f'alter table {name} add column "{col}" {wanted}')
            logger.info("added column %s to %s", col, name)
        elif have.replace("timestamp with time zone", "timestamptz") != wanted:
            msg = f"{name}.{col} is {have}; expected {wanted} (raw_schemas)"
            raise IngestError(msg)


def loaded_files(
    con: duckdb.DuckDBPyConnection, source: str
) -> dict[str, dict[str, str]]:
    """Return, for each batch of `source` in the load log, its files' SHA-256s."""
    rows = con.execute(
        f"select distinct batch_id, source_file, sha256 from {LOAD_LOG}"
        " where source = ?",
        [source],
    ).fetchall()
    batches: dict[str, dict[str, str]] = {}
    for batch_id, rel, sha in rows:
        batches.setdefault(batch_id, {})[rel] = sha
    return batches


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: Batch,
    plans: list[FilePlan],
    *,
    loaded_at: datetime,
) -> BatchResult:
    """Load one batch in one transaction: all of it, or nothing of it.

    Raises:
        IngestError: A file does not parse or breaks the contract as a whole; the
            transaction is rolled back and nothing of the batch remains.
    """
    ctx = ReadContext(batch.batch_id, batch.received_at, loaded_at)
    result = BatchResult(batch.batch_id)
    quarantined_by_file: dict[tuple[str, str], int] = {}
    _drop_scratch(con)  # what an earlier failed load on this connection left
    in_transaction = False
    try:
        for plan in plans:
            quarantined = _load_file(con, plan, ctx, result)
            quarantined_by_file[plan.file.rel, plan.entity] = quarantined
        con.begin()
        in_transaction = True
        _move_scratch_into_raw(con, result.quarantined)
        for table in result.quarantined:
            result.duplicates[table] = _drop_replays(con, table, batch.batch_id)
        loaded_by_file = _rows_by_file(con, batch.batch_id, result.quarantined)
        for table, count in loaded_by_file.items():
            result.rows[table] = sum(count.values())
        _log_files(con, batch, plans, loaded_by_file, quarantined_by_file, loaded_at)
        _drop_scratch(con)
        con.commit()
    except IngestError as err:
        _abandon(con, in_transaction=in_transaction)
        raise err.in_batch(batch.batch_id) from None
    except BaseException:
        _abandon(con, in_transaction=in_transaction)
        raise
    return result


def _scratch(table: str) -> str:
    """The temporary table a batch's rows for `raw.<table>` wait in."""
    return f"{SCRATCH}.{_SCRATCH_PREFIX}{table}"


def _scratch_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The raw tables that have a scratch table on this connection."""
    rows = con.execute(
        "select table_name from information_schema.tables"
        " where table_catalog = 'temp' and starts_with(table_name, ?)",
        [_SCRATCH_PREFIX],
    ).fetchall()
    return {row[0].removeprefix(_SCRATCH_PREFIX) for row in rows}


def _drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    for table in _scratch_tables(con):
        con.execute(f"drop table if exists {_scratch(table)}")


def _move_scratch_into_raw(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str]
) -> None:
    """Insert the batch's scratch rows into their raw tables and the quarantine."""
    present = _scratch_tables(con)
    for table in [*tables, QUARANTINE_TABLE]:
        if table in present:
            con.execute(
                f"insert into {SCHEMA}.{table} by name select * from {_scratch(table)}"
            )


def _abandon(con: duckdb.DuckDBPyConnection, *, in_transaction: bool) -> None:
    """Undo a failed batch: raw is untouched, scratch is dropped."""
    if in_transaction:
        con.rollback()
    try:
        _drop_scratch(con)
    except duckdb.Error:
        logger.warning(
            "could not drop the scratch tables; they end with the connection"
        )


def _load_file(
    con: duckdb.DuckDBPyConnection,
    plan: FilePlan,
    ctx: ReadContext,
    result: BatchResult,
) -> int:
    """Load or count one file; return its rows quarantined."""
    rel = plan.file.rel
    if plan.read is None:
        if plan.action is Action.SKIP:
            _count_skipped(plan, ctx, result)
        return 0
    records = quarantined = 0
    result.quarantined.setdefault(plan.entity, 0)
    for chunk in plan.read(ctx):
        _stage(con, chunk.table, chunk.rows)
        _stage(con, QUARANTINE_TABLE, chunk.quarantine)
        records += chunk.rows.height + chunk.quarantine.height
        quarantined += chunk.quarantine.height
    _check_manifest_count(plan, records)
    result.quarantined[plan.entity] += quarantined
    if quarantined:
        logger.warning(
            "%s: %d of %d records of %s quarantined into %s",
            ctx.batch_id,
            quarantined,
            records,
            rel,
            QUARANTINE,
        )
    return quarantined


def _count_skipped(plan: FilePlan, ctx: ReadContext, result: BatchResult) -> None:
    count = count_records(plan)
    _check_manifest_count(plan, count)
    skipped = result.skipped_records
    skipped[plan.entity] = skipped.get(plan.entity, 0) + count
    logger.info(
        "%s: skipped %s, %d records of %s (not read by the contract)",
        ctx.batch_id,
        plan.file.rel,
        count,
        plan.entity,
    )


def _check_manifest_count(plan: FilePlan, records: int) -> None:
    expected = plan.expected_records
    if expected is not None and expected != records:
        msg = f"has {records} records; the manifest lists {expected}"
        raise IngestError(msg, file=plan.file.rel)


def _stage(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Append a frame to the scratch table of `raw.<table>`, made on first use."""
    if frame.is_empty():
        return
    con.execute(
        f"create temp table if not exists {_SCRATCH_PREFIX}{table}"
        f" as select * from {SCHEMA}.{table} limit 0"
    )
    _append(con, _scratch(table), frame)


def _append(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.is_empty():
        return
    view = "__ingest_chunk"
    con.register(view, frame.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(f"insert into {table} by name select * from {view}")
    finally:
        con.unregister(view)


def _key_sql(table: str) -> str:
    """SQL: one text value per row that is equal for replays of the same version."""
    parts = ", ".join(f"coalesce(({expr})::varchar, '')" for expr in REPLAY_KEYS[table])
    return f"concat_ws(chr(31), {parts})"


def _drop_replays(con: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> int:
    """Delete this batch's rows that repeat a record version; return how many."""
    name = f"{SCHEMA}.{table}"
    key = _key_sql(table)
    deleted = con.execute(
        f"""
        delete from {name} where rowid in (
            with current_batch as (
                select rowid as row_ref, {key} as version_key,
                    _source_file, _source_line
                from {name} where _batch_id = $batch
            ),
            replays_of_earlier as (
                select row_ref from current_batch
                where version_key in (
                    select {key} from {name} where _batch_id <> $batch
                )
            ),
            repeats_in_batch as (
                select row_ref from current_batch
                qualify row_number() over (
                    partition by version_key order by _source_file, _source_line
                ) > 1
            )
            select row_ref from replays_of_earlier
            union
            select row_ref from repeats_in_batch
        )
        """,
        {"batch": batch_id},
    ).fetchone()
    count = int(deleted[0]) if deleted else 0
    if count:
        logger.info(
            "%s: %d rows of %s repeat a record version already loaded; dropped",
            batch_id,
            count,
            name,
        )
    return count


def _rows_by_file(
    con: duckdb.DuckDBPyConnection, batch_id: str, tables: Iterable[str]
) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        rows = con.execute(
            f"select _source_file, count(*) from {SCHEMA}.{table}"
            " where _batch_id = ? group by 1",
            [batch_id],
        ).fetchall()
        counts[table] = dict(rows)
        logger.info(
            "%s: %d rows into %s.%s",
            batch_id,
            sum(counts[table].values()),
            SCHEMA,
            table,
        )
    return counts


def _log_files(
    con: duckdb.DuckDBPyConnection,
    batch: Batch,
    plans: list[FilePlan],
    loaded_by_file: dict[str, dict[str, int]],
    quarantined_by_file: dict[tuple[str, str], int],
    loaded_at: datetime,
) -> None:
    """Write one load-log row per file and entity (FHIR JSON: one per resource type)."""
    files = len(plans)
    log = pl.DataFrame(
        {
            "batch_id": [batch.batch_id] * files,
            "source": [batch.source] * files,
            "source_file": [p.file.rel for p in plans],
            "sha256": [p.file.sha256 for p in plans],
            "entity": [p.entity for p in plans],
            "rows_loaded": [
                loaded_by_file.get(p.entity, {}).get(p.file.rel, 0)
                if p.action is Action.READ
                else 0
                for p in plans
            ],
            "rows_quarantined": [
                quarantined_by_file.get((p.file.rel, p.entity), 0) for p in plans
            ],
            "received_at": [batch.received_at] * files,
            "loaded_at": [loaded_at] * files,
        },
        schema=LOAD_LOG_COLUMNS,
    )
    _append(con, LOAD_LOG, log)
