"""Approved audience files: written whole or not at all, with their manifests.

Only the export asset calls `write_audience`, and only after the gate passed for
exactly the rows it writes (same fingerprint). An export is assembled in a hidden
staging folder (`exports/.staging-<id>/`) and appears under its final name,
`exports/<id>/`, by one atomic rename, so a crash leaves no partial export behind;
each file inside is written through a temporary file, fsync and rename as well.

An export folder holds:
- `outbound/`: what the recipient gets, named by the opaque export id only
  (R-OPAQUE): `audience-<id>.csv` (or `.parquet`) and `manifest-<id>.json` (id,
  format, columns, row count, sha256). No segment name, criteria or topic.
- `manifest.json`: the full internal manifest (segment, purpose, recipient, as_of,
  rule-set version, gate results, source batches, compiled SQL hashes, operator),
  which stays inside.
- `person_keys.json`: the exported person keys, for `clearlist exports recheck`.
- `data-docs/`: the Great Expectations Data Docs of the gate's validation.

A blocked export gets the same folder with `blocked.json` and `data-docs/`, and no
`outbound/`.
"""

import csv
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.lib.gate import GateResult, rows_fingerprint

logger = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
STAGING_PREFIX = ".staging-"
# A staging folder this old belongs to a run that died; the next export removes it.
STALE_STAGING_SECONDS = 3600

# A cell a spreadsheet would run as a formula, unless it is a plain number or an
# E.164 phone number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class ExportError(RuntimeError):
    """An export that must not be written."""


@dataclass(frozen=True)
class ExportedFile:
    """Where an approved audience landed, and what its manifests say."""

    export_id: str
    audience_path: Path
    manifest_path: Path
    manifest: dict[str, Any]
    recipient_manifest_path: Path


def new_export_id() -> str:
    """Return an opaque export id that names nothing about the segment (R-OPAQUE)."""
    return f"x{secrets.token_hex(8)}"


def spreadsheet_safe(value: Any) -> Any:
    """Neutralise a text cell that a spreadsheet would evaluate as a formula.

    >>> spreadsheet_safe("=HYPERLINK(1)")
    "'=HYPERLINK(1)"
    >>> spreadsheet_safe("+15551234567")
    '+15551234567'
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _PLAIN_NUMBER.match(value) or _E164.match(value):
        return value
    return "'" + value


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    target: Path, write: Callable[[Any], None], *, binary: bool = False
) -> None:
    """Write through a temporary file in the same folder, fsync, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    temp = Path(temp_name)
    try:
        mode = "wb" if binary else "w"
        options = {} if binary else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, mode, **options) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_json(target: Path, document: dict[str, Any]) -> None:
    write_atomically(
        target,
        lambda handle: handle.write(json.dumps(document, indent=2, default=str)),
    )


def _write_csv(rows: pa.Table) -> Callable[[Any], None]:
    def write(handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(rows.column_names)
        for batch in rows.to_batches(max_chunksize=50_000):
            for record in batch.to_pylist():
                writer.writerow(
                    "" if value is None else spreadsheet_safe(value)
                    for value in record.values()
                )

    return write


def _write_parquet(rows: pa.Table) -> Callable[[Any], None]:
    import pyarrow.parquet as pq

    def write(handle: Any) -> None:
        pq.write_table(rows, handle)

    return write


def _publish(staging: Path, final: Path) -> None:
    """Move a finished staging folder to its final name in one rename."""
    os.rename(staging, final)
    _fsync_dir(final.parent)


def sweep_staging(
    exports_dir: Path, *, older_than: float = STALE_STAGING_SECONDS
) -> int:
    """Remove staging folders left by runs that died; return how many."""
    if not exports_dir.exists():
        return 0
    removed = 0
    now = time.time()
    for folder in exports_dir.glob(f"{STAGING_PREFIX}*"):
        if folder.is_dir() and now - folder.stat().st_mtime > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        logger.warning("removed %d staging folders of interrupted exports", removed)
    return removed


def _stage(exports_dir: Path, export_id: str) -> tuple[Path, Path]:
    final = exports_dir / export_id
    if final.exists():
        msg = f"export {export_id} already exists; an export id is used once"
        raise ExportError(msg)
    staging = exports_dir / f"{STAGING_PREFIX}{export_id}"
    staging.mkdir(parents=True)
    return staging, final


def _move_docs(docs_dir: Path | None, staging: Path) -> str | None:
    """Move the gate's Data Docs into the export (the same file system: a rename)."""
    if docs_dir is None or not docs_dir.exists():
        return None
    shutil.move(docs_dir, staging / "data-docs")
    return "data-docs/index.html"


def write_audience(
    rows: pa.Table,
    *,
    exports_dir: Path,
    gate: GateResult,
    details: dict[str, Any],
    person_keys: list[str],
    export_format: str = "csv",
    docs_dir: Path | None = None,
    export_id: str | None = None,
) -> ExportedFile:
    """Write an approved audience file and its two manifests.

    Args:
        rows: Exactly the rows and columns to send.
        exports_dir: The home's exports folder.
        gate: The gate result for these rows; it must have passed on the same
            fingerprint.
        details: Internal manifest fields (segment, purpose, channel, recipient,
            as_of, rule-set version, source batches, model hashes, operator...).
        person_keys: The person key of every row, kept inside for rechecks.
        export_format: `csv` or `parquet`.
        docs_dir: The Data Docs of the gate's validation, moved into the export.
        export_id: An id to reuse (tests); a new opaque one by default.

    Returns:
        The written file, its manifests and their paths.

    Raises:
        ExportError: The gate did not pass, or passed on other rows, or the format
            is unknown.
    """
    if export_format not in FORMATS:
        msg = f"unknown export format {export_format!r}; expected one of {FORMATS}"
        raise ExportError(msg)
    if not gate.passed:
        msg = f"gate blocked segment {gate.segment!r}; nothing is written"
        raise ExportError(msg)
    fingerprint = rows_fingerprint(rows)
    if fingerprint != gate.rows_fingerprint or rows.num_rows != gate.row_count:
        msg = (
            f"the rows of segment {gate.segment!r} changed after the gate passed "
            f"({gate.row_count} checked, {rows.num_rows} to write); export again"
        )
        raise ExportError(msg)
    if len(person_keys) != rows.num_rows:
        msg = f"{len(person_keys)} person keys for {rows.num_rows} rows"
        raise ExportError(msg)

    sweep_staging(exports_dir)
    export_id = export_id or new_export_id()
    staging, final = _stage(exports_dir, export_id)
    try:
        audience_name = f"outbound/audience-{export_id}.{export_format}"
        audience = staging / audience_name
        if export_format == "csv":
            write_atomically(audience, _write_csv(rows))
        else:
            write_atomically(audience, _write_parquet(rows), binary=True)
        sha256 = file_sha256(audience)
        exported_at = datetime.now(UTC).isoformat()
        recipient_name = f"outbound/manifest-{export_id}.json"
        # R-OPAQUE: the manifest sent along names the export id and nothing else.
        _write_json(
            staging / recipient_name,
            {
                "export_id": export_id,
                "file": audience.name,
                "format": export_format,
                "columns": rows.column_names,
                "row_count": rows.num_rows,
                "sha256": sha256,
                "created_at": exported_at,
            },
        )
        _write_json(staging / "person_keys.json", {"person_keys": person_keys})
        docs = _move_docs(docs_dir, staging)
        manifest = {
            "export_id": export_id,
            **details,
            "columns": rows.column_names,
            "row_count": rows.num_rows,
            "format": export_format,
            "file": audience_name,
            "sha256": sha256,
            "recipient_manifest": recipient_name,
            "data_docs": docs,
            "gate": gate.to_dict(),
            "exported_at": exported_at,
        }
        _write_json(staging / "manifest.json", manifest)
        _fsync_dir(staging)
        _publish(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("exported %d rows of %s as %s", rows.num_rows, gate.segment, export_id)
    return ExportedFile(
        export_id,
        final / audience_name,
        final / "manifest.json",
        manifest,
        final / recipient_name,
    )


def write_blocked(
    *,
    exports_dir: Path,
    gate: GateResult,
    details: dict[str, Any],
    docs_dir: Path | None = None,
) -> Path:
    """Record a blocked export: reasons, counts, person keys, Data Docs; no file."""
    export_id = new_export_id()
    staging, final = _stage(exports_dir, export_id)
    try:
        docs = _move_docs(docs_dir, staging)
        report = {
            "export_id": export_id,
            **details,
            "outcome": "blocked",
            "summary": gate.summary(),
            "data_docs": docs,
            "gate": gate.to_dict(),
            "blocked_at": datetime.now(UTC).isoformat(),
        }
        _write_json(staging / "blocked.json", report)
        _publish(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.warning(
        "export of %s blocked by %d gate checks; report %s",
        gate.segment,
        len(gate.failures),
        export_id,
    )
    return final / "blocked.json"
