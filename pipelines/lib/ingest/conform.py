"""Type flat text records, check them against the contract and split off quarantine.

Every reader first turns its records into a *flat* frame: `_source_line`,
`_record_json` and one text column per field of the target table. `conform` then
types each field, collects every reason a row breaks the contract, and splits the
rows into a frame of the raw table (exactly `table_schema(table)`) and a frame of
`raw.quarantine`. A reason names the source field and the problem, never the value:
the values are PHI.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipelines.lib.raw_schemas import QUARANTINE_COLUMNS, TS, table_schema

_RAW = "__raw__"
_REASON = "__reason__"

_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%z"
_NAIVE = "%Y-%m-%dT%H:%M:%S%.f"
_MS_FROM = 1e11  # epoch numbers at or above this are milliseconds (year 5138 in s)
_MS_UNTIL = 1e14


class Kind(enum.Enum):
    """How a field's text is read."""

    TEXT = enum.auto()
    """Trimmed text; empty reads as null."""
    LIST = enum.auto()
    """A `;`-separated list: items trimmed, empty items dropped, joined by `;`."""
    TIMESTAMP = enum.auto()
    """An ISO 8601 instant; a bare date reads as 00:00 UTC; no offset reads as UTC."""
    FLAGGED = enum.auto()
    """Like TIMESTAMP, into `<name>_at` plus `<name>_is_date_only`."""
    EPOCH = enum.auto()
    """Seconds or milliseconds since 1970 (number or numeric text), or ISO 8601."""
    DATE = enum.auto()
    """A calendar date, `YYYY-MM-DD`."""
    BOOL = enum.auto()
    """`true`/`false` in any case; empty reads as null."""
    CHECKBOX = enum.auto()
    """A Salesforce checkbox: `true`/`false` in any case; empty reads as false."""
    NUMBER = enum.auto()
    """A finite decimal number."""


class Partial(enum.Enum):
    """How a FHIR partial date (`YYYY` or `YYYY-MM`) reads; unset: it is invalid."""

    START = enum.auto()
    """The first instant the partial date allows."""
    END = enum.auto()
    """The last day the partial date allows (a birth date: the youngest reading)."""


@dataclass(frozen=True)
class Field:
    """One column of a raw table and how its source text is read.

    Attributes:
        name: The target column; for `Kind.FLAGGED` the stem of `<name>_at` and
            `<name>_is_date_only`. The flat frame carries the text under this name.
        label: The source field as the contract names it, used in reasons.
        kind: How the text is read.
        required: A row without a value is quarantined.
        codes: The closed code set of the field; any other value is quarantined.
        partial: Whether and how a FHIR partial date is read.
    """

    name: str
    label: str
    kind: Kind = Kind.TEXT
    required: bool = False
    codes: frozenset[str] | None = None
    partial: Partial | None = None


@dataclass(frozen=True)
class Check:
    """A rule across fields: rows where `broken` is true are quarantined.

    `broken` is evaluated on the typed columns (target names), on any extra text
    column of the flat frame and on `_received_at`; a null result is not broken.
    """

    broken: pl.Expr
    reason: str


@dataclass(frozen=True)
class ReadContext:
    """Where the rows being read come from."""

    batch_id: str
    received_at: datetime
    loaded_at: datetime


@dataclass(frozen=True)
class Chunk:
    """Rows of one raw table read from one file, and the rows quarantined."""

    table: str
    source_file: str
    rows: pl.DataFrame
    quarantine: pl.DataFrame


def conform(
    flat: pl.DataFrame,
    *,
    table: str,
    fields: Sequence[Field],
    source_file: str,
    ctx: ReadContext,
    key: str,
    record_at: pl.Expr | None = None,
    checks: Sequence[Check] = (),
) -> Chunk:
    """Type the flat rows of one file into `table` and split off the quarantine.

    Args:
        flat: `_source_line`, `_record_json` and one text column per field.
        table: The raw table.
        fields: The fields read; table columns not among them are null.
        source_file: The file inside the batch.
        ctx: Batch and load times.
        key: The target column that holds the record's key.
        record_at: The record's own time, over the typed columns; null if unset.
        checks: Rules across fields.

    Returns:
        The rows that keep the contract and the quarantined rows, with reasons.
    """
    raw_names = {f.name: f"{_RAW}{f.name}" for f in fields}
    frame = (
        flat.lazy()
        .rename(raw_names)
        .with_columns(
            pl.col(raw).str.strip_chars().replace("", None)
            for raw in raw_names.values()
        )
    )
    frame = frame.with_columns(
        _batch_id=pl.lit(ctx.batch_id),
        _source_file=pl.lit(source_file),
        _received_at=pl.lit(ctx.received_at).cast(TS),
        _loaded_at=pl.lit(ctx.loaded_at).cast(TS),
    )
    typed: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    for field in fields:
        exprs, problems = _read_field(field, pl.col(raw_names[field.name]))
        typed += exprs
        reasons += problems
    frame = frame.with_columns(typed)
    reasons += [
        pl.when(check.broken.fill_null(value=False)).then(pl.lit(check.reason))
        for check in checks
    ]
    schema = table_schema(table)
    collected = frame.with_columns(
        _reason_expr(reasons).alias(_REASON),
        (record_at if record_at is not None else pl.lit(None)).alias("_record_at"),
    ).collect()
    good = collected.filter(pl.col(_REASON).is_null())
    bad = collected.filter(pl.col(_REASON).is_not_null())
    rows = good.select(
        (pl.col(name) if name in good.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )
    quarantine = bad.select(
        pl.col("_batch_id"),
        pl.col("_source_file"),
        pl.col("_source_line"),
        pl.lit(table).alias("entity"),
        pl.col(raw_names.get(key, key)).alias("record_key"),
        pl.col(_REASON).alias("reason"),
        pl.col("_received_at"),
        pl.col("_loaded_at"),
    ).cast(QUARANTINE_COLUMNS)  # type: ignore[arg-type]
    return Chunk(table, source_file, rows, quarantine)


def _reason_expr(reasons: list[pl.Expr]) -> pl.Expr:
    if not reasons:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(reasons, separator="; ", ignore_nulls=True).replace("", None)


def _read_field(field: Field, text: pl.Expr) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Return the typed column expressions of a field and its problem expressions."""
    label = field.label
    problems: list[pl.Expr] = []
    if field.required:
        problems.append(pl.when(text.is_null()).then(pl.lit(f"{label} is missing")))
    kind = field.kind
    if kind is Kind.TEXT:
        value = text
        if field.codes is not None:
            codes = sorted(field.codes)
            problems.append(
                pl.when(text.is_not_null() & ~text.is_in(codes)).then(
                    pl.lit(f"{label} is not one of the contract's codes")
                )
            )
        return [value.alias(field.name)], problems
    if kind is Kind.LIST:
        return [split_list(text).alias(field.name)], problems
    if kind in (Kind.TIMESTAMP, Kind.FLAGGED):
        value, date_only = parse_instant(text, partial=field.partial)
        what = "an ISO 8601 timestamp or date"
        exprs = [
            value.alias(f"{field.name}_at" if kind is Kind.FLAGGED else field.name)
        ]
        if kind is Kind.FLAGGED:
            exprs.append(date_only.alias(f"{field.name}_is_date_only"))
    elif kind is Kind.EPOCH:
        value = parse_epoch(text)
        what = "a time in seconds or milliseconds since 1970, or ISO 8601"
        exprs = [value.alias(field.name)]
    elif kind is Kind.DATE:
        value = parse_date(text, partial=field.partial)
        what = "a date (YYYY-MM-DD)"
        exprs = [value.alias(field.name)]
    elif kind in (Kind.BOOL, Kind.CHECKBOX):
        value = parse_bool(text, empty=kind is Kind.CHECKBOX)
        what = "true or false"
        exprs = [value.alias(field.name)]
    else:
        value = parse_number(text)
        what = "a number"
        exprs = [value.alias(field.name)]
    problems.append(
        pl.when(text.is_not_null() & value.is_null()).then(
            pl.lit(f"{label} is not {what}")
        )
    )
    return exprs, problems


def split_list(text: pl.Expr) -> pl.Expr:
    """Normalise a `;`-separated list: trim items, drop empty ones, join by `;`."""
    items = text.str.split(";").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
    )
    return items.list.join(";").replace("", None)


def parse_instant(
    text: pl.Expr, *, partial: Partial | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """Read ISO 8601 text as a UTC instant.

    Accepted: `2024-01-23T02:46:47.000+0000`, `...+00:00`, `...Z`, a space for `T`,
    no offset (read as UTC), and a bare date (00:00 UTC). With `partial`, also FHIR's
    `YYYY` and `YYYY-MM`.

    Returns:
        The instant (null when unreadable) and whether the text was a date only.
    """
    norm = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ tT]", "${1}T").str.replace(
        r"[zZ]$", "+00:00"
    )
    with_offset = norm.str.to_datetime(
        _WITH_OFFSET, strict=False, time_unit="us", time_zone="UTC"
    )
    naive = norm.str.to_datetime(_NAIVE, strict=False, time_unit="us")
    day = parse_date(text, partial=partial)
    value = pl.coalesce(
        with_offset,
        naive.dt.replace_time_zone("UTC"),
        day.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
    ).cast(TS)
    date_only = (
        pl.when(value.is_null())
        .then(None)
        .otherwise(with_offset.is_null() & naive.is_null())
    )
    return value, date_only


def parse_date(text: pl.Expr, *, partial: Partial | None = None) -> pl.Expr:
    """Read `YYYY-MM-DD` (and, with `partial`, `YYYY` or `YYYY-MM`) as a date."""
    full = (
        pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(text)
        .str.to_date("%Y-%m-%d", strict=False)
    )
    if partial is None:
        return full
    year = pl.when(text.str.contains(r"^\d{4}$")).then(text + "-01-01")
    month = pl.when(text.str.contains(r"^\d{4}-\d{2}$")).then(text + "-01")
    first = pl.coalesce(year, month).str.to_date("%Y-%m-%d", strict=False)
    if partial is Partial.END:
        first = (
            pl.when(text.str.len_chars() == 4)
            .then(first.dt.offset_by("1y"))
            .otherwise(first.dt.offset_by("1mo"))
            .dt.offset_by("-1d")
        )
    return pl.coalesce(full, first)


def parse_epoch(text: pl.Expr) -> pl.Expr:
    """Read seconds or milliseconds since 1970, or else ISO 8601, as a UTC instant."""
    number = parse_number(text)
    micros = (
        pl.when((number >= 0) & (number < _MS_FROM))
        .then(number * 1_000_000)
        .when((number >= _MS_FROM) & (number < _MS_UNTIL))
        .then(number * 1_000)
        .round()
        .cast(pl.Int64, strict=False)
    )
    from_number = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    iso, _ = parse_instant(text)
    return pl.when(number.is_not_null()).then(from_number).otherwise(iso).cast(TS)


def parse_bool(text: pl.Expr, *, empty: bool) -> pl.Expr:
    """Read `true`/`false` in any case; empty text reads as `empty` or null."""
    lower = text.str.to_lowercase()
    value = pl.when(lower == "true").then(True).when(lower == "false").then(False)
    if empty:
        value = value.when(text.is_null()).then(False)
    return value.otherwise(None)


def parse_number(text: pl.Expr) -> pl.Expr:
    """Read a finite decimal number; anything else (`nan`, `inf`, words) is null."""
    number = (
        pl.when(text.str.contains(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"))
        .then(text)
        .cast(pl.Float64, strict=False)
    )
    return pl.when(number.is_finite()).then(number)
