"""Approved audience files: written whole or not at all, with a manifest.

Only the export asset calls this module, and only after the gate passed for exactly
the rows it writes (same fingerprint). A file appears under its final name by one
atomic rename, so a crash leaves no partial audience file behind.
"""

import csv
import getpass
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.lib.gate import GateResult, rows_fingerprint

logger = logging.getLogger(__name__)

# A cell a spreadsheet would run as a formula, unless it is a plain number or an
# E.164 phone number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class ExportError(RuntimeError):
    """An export that must not be written."""


@dataclass(frozen=True)
class ExportedFile:
    """Where an approved audience landed, and what its manifest says."""

    export_id: str
    audience_path: Path
    manifest_path: Path
    manifest: dict[str, Any]


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(target: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, fsync, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_audience(
    rows: pa.Table,
    *,
    exports_dir: Path,
    gate: GateResult,
    details: dict[str, Any],
    export_id: str | None = None,
) -> ExportedFile:
    """Write an approved audience CSV and its manifest.json.

    Args:
        rows: Exactly the rows and columns to send.
        exports_dir: The home's exports folder.
        gate: The gate result for these rows; it must have passed on the same
            fingerprint.
        details: Manifest fields (segment, purpose, channel, recipient, ...).
        export_id: An id to reuse (tests); a new opaque one by default.

    Returns:
        The written file, its manifest and their paths.

    Raises:
        ExportError: The gate did not pass, or passed on other rows.
    """
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

    export_id = export_id or new_export_id()
    folder = exports_dir / export_id
    audience_path = folder / f"audience-{export_id}.csv"
    manifest_path = folder / "manifest.json"

    def write_csv(handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(rows.column_names)
        for batch in rows.to_batches(max_chunksize=50_000):
            for record in batch.to_pylist():
                writer.writerow(
                    "" if value is None else spreadsheet_safe(value)
                    for value in record.values()
                )

    _write_atomically(audience_path, write_csv)
    manifest = {
        "export_id": export_id,
        **details,
        "columns": rows.column_names,
        "row_count": rows.num_rows,
        "file": audience_path.name,
        "sha256": _sha256(audience_path),
        "gate": gate.to_dict(),
        "exported_at": datetime.now(UTC).isoformat(),
        "operator": getpass.getuser(),
    }
    _write_atomically(
        manifest_path,
        lambda handle: handle.write(json.dumps(manifest, indent=2, default=str)),
    )
    logger.info("exported %d rows of %s as %s", rows.num_rows, gate.segment, export_id)
    return ExportedFile(export_id, audience_path, manifest_path, manifest)


def write_blocked(
    *, exports_dir: Path, gate: GateResult, details: dict[str, Any]
) -> Path:
    """Record a blocked export: reasons and counts, and no audience file."""
    export_id = new_export_id()
    path = exports_dir / export_id / "blocked.json"
    report = {"export_id": export_id, **details, "gate": gate.to_dict()}
    _write_atomically(
        path, lambda handle: handle.write(json.dumps(report, indent=2, default=str))
    )
    logger.warning(
        "export of %s blocked by %d gate checks; report %s",
        gate.segment,
        len(gate.failures),
        export_id,
    )
    return path
