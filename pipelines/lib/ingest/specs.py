"""How a source file maps to a raw table: a spec per CSV export or JSON record type.

A spec names the source fields read into the flat frame and the `Field`s that type
and check them (see `conform`); `read_csv_spec` and `read_json_spec` apply one to a
file, chunk by chunk.
"""

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from pipelines.lib.ingest.conform import Check, Chunk, Field, ReadContext, conform
from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.formats import flatten_json, iter_csv, read_csv_header

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CsvSpec:
    """How the columns of one CSV export map to a raw table.

    Attributes:
        table: The raw table.
        key: The flat column holding the record's key.
        columns: Flat column name to the source columns that may carry it, the
            first present wins (header generations differ); matched in any case.
        required: Flat columns whose source column the header must have.
        fields: How flat columns are typed and checked (see `conform`).
        checks: Rules across fields.
        record_at: The record's own time, over the typed columns.
        derive: Adds or rewrites flat columns once the source columns are renamed.
    """

    table: str
    key: str
    columns: dict[str, tuple[str, ...]]
    required: frozenset[str]
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    record_at: pl.Expr | None = None
    derive: Callable[[pl.DataFrame], pl.DataFrame] | None = None


def read_csv_spec(
    path: Path, rel: str, spec: CsvSpec, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read one CSV file into `spec.table`, in chunks.

    Raises:
        IngestError: The header lacks a required column, or a row does not parse.
    """
    header = read_csv_header(path, rel)
    by_lower = {name.lower(): name for name in header}
    resolved: dict[str, str | None] = {}
    for name, candidates in spec.columns.items():
        found = next(
            (by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None
        )
        resolved[name] = found
    missing = sorted(
        spec.columns[name][0] for name in spec.required if resolved[name] is None
    )
    if missing:
        expected = sorted(spec.columns[name][0] for name in spec.required)
        msg = (
            f"missing required column(s) {', '.join(missing)}; expected a header"
            f" with {', '.join(expected)}"
        )
        raise IngestError(msg, file=rel)
    absent = sorted(spec.columns[n][0] for n, src in resolved.items() if src is None)
    if absent:
        logger.info(
            "%s has no column(s) %s; read as empty for %s",
            rel,
            ", ".join(absent),
            spec.table,
        )
    for frame in iter_csv(path, rel, header):
        flat = frame.select(
            "_source_line",
            "_record_json",
            *(
                (pl.col(src) if src else pl.lit(None, pl.String)).alias(name)
                for name, src in resolved.items()
            ),
        )
        if spec.derive is not None:
            flat = spec.derive(flat)
        yield conform(
            flat,
            table=spec.table,
            fields=spec.fields,
            source_file=rel,
            ctx=ctx,
            key=spec.key,
            record_at=spec.record_at,
            checks=spec.checks,
        )


def natural_id(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Return a stable id for each row: the MD5 of the given columns' text.

    For sources without record ids; the same natural key gives the same id in
    every export, so a changed row is a newer version of the same record.
    """
    parts = ", ".join(f"coalesce(trim(\"{c}\"), '')" for c in columns)
    with duckdb.connect() as con:
        con.register("frame", frame.select(columns).to_arrow())
        ids = con.execute(f"select md5(concat_ws(chr(31), {parts})) as id from frame")
        return ids.pl()["id"]


@dataclass(frozen=True)
class JsonSpec:
    """How one kind of JSON record flattens into a raw table.

    Attributes:
        table: The raw table.
        key: The flat column holding the record's key.
        structure: The DuckDB JSON structure the record is read with (as `r`).
        columns: Flat column name to a SQL expression over `r` and the `lets`.
        fields: How flat columns are typed and checked (see `conform`).
        lets: Named intermediate SQL expressions the columns may use.
        checks: Rules across fields.
        record_at: The record's own time, over the typed columns.
    """

    table: str
    key: str
    structure: dict[str, object]
    columns: dict[str, str]
    fields: tuple[Field, ...]
    lets: dict[str, str] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    record_at: pl.Expr | None = None


def read_json_spec(
    chunks: Iterable[pa.Table], rel: str, spec: JsonSpec, ctx: ReadContext
) -> Iterator[Chunk]:
    """Read `(line_no, line)` chunks of JSON objects into `spec.table`.

    Raises:
        IngestError: A line is not a JSON object.
    """
    structure = json.dumps(spec.structure, separators=(",", ":"))
    for lines in chunks:
        flat = flatten_json(
            lines, rel=rel, structure=structure, columns=spec.columns, lets=spec.lets
        )
        yield conform(
            flat,
            table=spec.table,
            fields=spec.fields,
            source_file=rel,
            ctx=ctx,
            key=spec.key,
            record_at=spec.record_at,
            checks=spec.checks,
        )
