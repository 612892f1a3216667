"""Bulk readers of the landing file formats: NDJSON/JSONL, JSON documents and CSV.

Each reader streams a file in chunks of about `CHUNK_BYTES`, so that memory stays
flat however large a file is, and raises `IngestError` naming the file and the line
when the file does not parse. Error messages never quote the file's content.

JSON is flattened by DuckDB's JSON functions (`from_json` with a fixed structure),
which read a field of an unexpected JSON type as text or null instead of failing the
whole chunk, so that a wrong type becomes a quarantine reason for one row.
"""

import csv
import io
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.lib.ingest.errors import IngestError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024 * 1024
CHUNK_ROWS = 100_000
_BOM = b"\xef\xbb\xbf"
_IS_OBJECT = "__is_object"
# SQL: the white space JSON allows around a value (a CRLF line keeps its CR).
_JSON_SPACE = "' ' || chr(9) || chr(10) || chr(13)"


def iter_lines(
    path: Path, rel: str, *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pa.Table]:
    """Yield the lines of a text file as `(line_no, line)` Arrow tables, in chunks.

    Lines are numbered from 1 over the whole file; a line keeps its surrounding
    whitespace (the carriage return of CRLF included); blank lines are yielded too.

    Raises:
        IngestError: A line is not UTF-8 text.
    """
    base = 0
    carry = b""
    first = True
    with path.open("rb") as handle:
        while True:
            block = handle.read(chunk_bytes)
            data = carry + block
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                piece, carry = data[:cut], data[cut:]
            else:
                piece, carry = data, b""
            if first:
                piece = piece.removeprefix(_BOM)
                first = False
            if piece:
                yield _split_lines(piece, base, rel)
                base += piece.count(b"\n")
            if not block:
                return


def _split_lines(piece: bytes, base: int, rel: str) -> pa.Table:
    offsets = pa.array([0, len(piece)], type=pa.int64()).buffers()[1]
    text = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(piece))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as err:
            line = base + piece.count(b"\n", 0, err.start) + 1
            msg = f"line {line} is not UTF-8 text"
            raise IngestError(msg, file=rel) from None
        raise
    lines = pc.split_pattern(text, "\n").flatten()
    if piece.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    numbers = pl.int_range(
        base + 1, base + 1 + len(lines), dtype=pl.Int64, eager=True
    ).to_arrow()
    return pa.table({"line_no": numbers, "line": lines})


def iter_json_document(
    path: Path, rel: str, *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Yield the objects of a JSON file holding an array of objects or one object.

    An array is streamed by DuckDB's JSON reader, so a large file is never held in
    memory whole.

    Yields:
        `(line_no, line)` tables: each object as JSON text, numbered by its 1-based
        position in the array (1 for a single object).

    Raises:
        IngestError: The file is not UTF-8 JSON of that shape.
    """
    expected = "expected a JSON array of objects or a single JSON object"
    opening = _first_character(path)
    if opening == "{":
        try:
            doc = path.read_bytes().removeprefix(_BOM).decode("utf-8")
        except UnicodeDecodeError:
            raise IngestError(f"is not UTF-8 text; {expected}", file=rel) from None
        with duckdb.connect() as con:
            valid = con.execute("select json_valid($doc)", {"doc": doc}).fetchone()
        if not valid or not valid[0]:
            raise IngestError(f"does not parse as JSON; {expected}", file=rel)
        yield pa.table(
            {"line_no": pa.array([1], pa.int64()), "line": pa.array([doc.strip()])}
        )
        return
    if opening != "[":
        problem = "does not parse as JSON" if opening is None else "is not an array"
        raise IngestError(f"{problem}; {expected}", file=rel)
    # DuckDB's array reader accepts an array cut short after a comma (`[{...}, `).
    if _last_character(path) != "]":
        msg = f"does not parse as JSON: the array is not closed; {expected}"
        raise IngestError(msg, file=rel)
    done = 0
    try:
        with duckdb.connect() as con:
            reader = con.execute(
                "select json::varchar as line, json_type(json) as type"
                " from read_json_objects(?, format = 'array')",
                [str(path)],
            ).fetch_record_batch(chunk_rows)
            for batch in reader:
                elements = pa.Table.from_batches([batch])
                numbers = pa.array(
                    range(done + 1, done + 1 + elements.num_rows), pa.int64()
                )
                not_objects = pc.filter(
                    numbers, pc.not_equal(elements["type"], "OBJECT")
                )
                if len(not_objects):
                    first = not_objects[0].as_py()
                    msg = f"element {first} is not a JSON object; {expected}"
                    raise IngestError(msg, file=rel)
                done += elements.num_rows
                yield pa.table({"line_no": numbers, "line": elements["line"]})
    except duckdb.Error:
        raise IngestError(
            f"does not parse as UTF-8 JSON; {expected}", file=rel
        ) from None


def _last_character(path: Path) -> str | None:
    """The last character of a text file before trailing white space."""
    with path.open("rb") as handle:
        end = handle.seek(0, io.SEEK_END)
        tail = b""
        while end > 0 and not tail.strip():
            start = max(0, end - 4096)
            handle.seek(start)
            tail = handle.read(end - start) + tail
            end = start
    stripped = tail.rstrip()
    return chr(stripped[-1]) if stripped else None


def _first_character(path: Path) -> str | None:
    """The first character of a text file past a byte-order mark and white space."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(_BOM)
        while head and not head.strip():
            head = handle.read(4096)
    stripped = head.lstrip()
    return chr(stripped[0]) if stripped else None


def flatten_json(
    lines: pa.Table,
    *,
    rel: str,
    structure: str,
    columns: Mapping[str, str],
    lets: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Flatten JSON objects into one text column per field, with DuckDB.

    Args:
        lines: `(line_no, line)`, one JSON object per row.
        rel: The file, for error messages.
        structure: A DuckDB JSON structure; `r` is the line read with it.
        columns: Output column name to SQL expression over `r` and the `lets`.
        lets: Named intermediate SQL expressions over `r` (and earlier lets).

    Returns:
        `_source_line`, `_record_json` (compact JSON text) and the columns, as text.

    Raises:
        IngestError: A line is not a JSON object.
    """
    # The structure and the expressions are the readers' own constants, not input.
    selected = ",\n".join(
        f"({sql})::varchar as {name}" for name, sql in columns.items()
    )
    derived = "".join(f", {sql} as {name}" for name, sql in (lets or {}).items())
    # One parse to check each line, one to read it and one to compact it; a line
    # that is not a JSON object is read as null and fails the file below. Blank
    # lines are dropped (checked only where the line is not an object anyway).
    query = f"""
        select line_no as _source_line, is_object as {_IS_OBJECT},
            case when is_object then json(line)::varchar end as _record_json,
            {selected}
        from (
            select *{derived}
            from (
                select line_no, line, is_object,
                    case when is_object then from_json(line, '{structure}') end as r
                from (
                    select line_no, line,
                        json_valid(line)
                        and starts_with(ltrim(line, {_JSON_SPACE}), '{{') as is_object
                    from lines
                )
                where is_object or trim(line, {_JSON_SPACE}) <> ''
            )
        )
    """
    with duckdb.connect() as con:
        con.register("lines", lines)
        flat = con.execute(query).pl()
    if not flat[_IS_OBJECT].all():
        first = flat.filter(~pl.col(_IS_OBJECT))["_source_line"].min()
        msg = f"line {first} is not a JSON object; expected one JSON object a line"
        raise IngestError(msg, file=rel)
    return flat.drop(_IS_OBJECT)


def read_csv_header(path: Path, rel: str) -> list[str]:
    """Return the header row of a CSV file (a byte-order mark is dropped).

    Raises:
        IngestError: The file has no header row, or names a column twice.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (UnicodeDecodeError, csv.Error):
        header = None
    if not header or not any(name.strip() for name in header):
        raise IngestError("expected a CSV header row of column names", file=rel)
    names = [name.strip() for name in header]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        msg = (
            f"the header names column(s) {', '.join(twice)} more than once;"
            " expected each column once"
        )
        raise IngestError(msg, file=rel)
    return names


def iter_csv(
    path: Path, rel: str, header: list[str], *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pl.DataFrame]:
    """Yield the data rows of a CSV file as text frames, in chunks.

    Each frame has the header's columns as text (empty cells as empty text) plus
    `_source_line` (the 1-based data row, header and blank lines not counted) and
    `_record_json` (the row as a JSON object of header name to text).

    Raises:
        IngestError: A row does not parse (wrong number of fields, not UTF-8...).
    """
    read_options = pacsv.ReadOptions(
        block_size=chunk_bytes, column_names=header, skip_rows=1
    )
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    done = 0
    quoting_checked = False
    try:
        reader = pacsv.open_csv(
            path,
            read_options=read_options,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=convert_options,
        )
        for batch in reader:
            frame = pl.DataFrame(batch)
            if not quoting_checked and _has_line_break(frame, header):
                _check_quoting(path, rel, len(header))
                quoting_checked = True
            yield frame.with_columns(
                pl.int_range(done + 1, done + 1 + frame.height, dtype=pl.Int64).alias(
                    "_source_line"
                ),
                pl.struct(header).struct.json_encode().alias("_record_json"),
            )
            done += frame.height
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _csv_problem(path, rel, len(header)) from None


def _has_line_break(frame: pl.DataFrame, header: list[str]) -> bool:
    """Whether any value of the frame spans lines."""
    spans = frame.select(pl.any_horizontal(pl.col(header).str.contains("[\r\n]")).any())
    return bool(spans.item())


def _check_quoting(path: Path, rel: str, width: int) -> None:
    """Raise unless every quoted field of the file is closed where CSV allows.

    pyarrow ends a quoted field at any quote, so a stray quote can pair with a
    quote rows later and fold the rows between into one value with line breaks,
    dropping them without an error. Python's strict reader refuses a closing quote
    that is not followed by a delimiter or a line end. It streams the file; it runs
    only when a value spans lines, the one way such a fold shows.

    Raises:
        IngestError: A quoted field does not close where CSV allows.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for _ in csv.reader(handle, strict=True):
                pass
    except (csv.Error, UnicodeDecodeError):
        raise _csv_problem(path, rel, width) from None


def count_csv_rows(path: Path, rel: str) -> int:
    """Count the data rows of a CSV file, checking that every row parses.

    Raises:
        IngestError: The file has no header, or a row does not parse.
    """
    header = read_csv_header(path, rel)
    read_options = pacsv.ReadOptions(column_names=header, skip_rows=1)
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string())
    )
    try:
        reader = pacsv.open_csv(
            path,
            read_options=read_options,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=convert_options,
        )
        return sum(batch.num_rows for batch in reader)
    except pa.ArrowInvalid:
        raise _csv_problem(path, rel, len(header)) from None


def _csv_problem(path: Path, rel: str, width: int) -> IngestError:
    """Find the first row that does not parse, for a message naming it."""
    expected = f"expected CSV rows of {width} fields"
    data = path.read_bytes().removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return IngestError(f"line {line} is not UTF-8 text", file=rel)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        next(reader, None)
        row_no = 0
        for row in reader:
            if not row:
                continue
            row_no += 1
            if len(row) != width:
                msg = (
                    f"data row {row_no} (line {reader.line_num}) has {len(row)} "
                    f"fields; {expected}"
                )
                return IngestError(msg, file=rel)
    except csv.Error:
        return IngestError(
            f"line {reader.line_num} does not parse as CSV; {expected}", file=rel
        )
    return IngestError(f"does not parse as CSV; {expected}", file=rel)
