"""Find the batches of a landing folder, hash their files and date them.

A batch is a folder `landing/<source>/<batch>/`. Its `received_at` is, in order, a
FHIR Bulk Data manifest's `transactionTime` (`manifest.json`), the `exported_at` of
an `export.json`, else the folder's modification time. Its content hash is the
SHA-256 over its files' names and SHA-256s, ignored files left out.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.lib.ingest.errors import IngestError

logger = logging.getLogger(__name__)

IGNORED_NAMES = frozenset(
    {
        "readme",
        "readme.md",
        "readme.txt",
        "readme.rst",
        "license",
        "license.md",
        "license.txt",
        "licence",
        "licence.md",
        "licence.txt",
        "notice",
        "notice.md",
        "notice.txt",
        "provenance.md",
        "changelog.md",
        "thumbs.db",
        "desktop.ini",
    }
)
"""Documentation beside an export, skipped quietly wherever it sits (in any case).

Hidden files (a name starting with `.`, such as `.DS_Store`) are skipped too. They
are neither read, hashed nor logged in `raw.load_log`.
"""

MANIFEST = "manifest.json"
EXPORT = "export.json"
_HASH_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class LandedFile:
    """One file of a batch."""

    rel: str
    """The path inside the batch folder, with `/` separators."""
    path: Path
    sha256: str


@dataclass(frozen=True)
class Batch:
    """One batch folder, its files and when the organization had it."""

    source: str
    name: str
    path: Path
    files: tuple[LandedFile, ...]
    """Every file but the ignored ones, sorted by `rel`."""
    received_at: datetime
    ignored: tuple[str, ...] = ()
    manifest: dict[str, object] = field(default_factory=dict)
    """The parsed FHIR Bulk Data manifest, when the batch has one."""

    @property
    def batch_id(self) -> str:
        """The batch as `<source>/<batch>`, as raw tables record it."""
        return f"{self.source}/{self.name}"

    @property
    def content_sha256(self) -> str:
        """The SHA-256 over the batch's file names and file SHA-256s."""
        return content_hash((f.rel, f.sha256) for f in self.files)


def content_hash(files: Iterable[tuple[str, str]]) -> str:
    """Hash `(name, sha256)` pairs in name order into one batch hash.

    >>> content_hash([("b.csv", "2"), ("a.csv", "1")]) == content_hash(
    ...     [("a.csv", "1"), ("b.csv", "2")]
    ... )
    True
    """
    digest = hashlib.sha256()
    for rel, sha in sorted(set(files)):
        digest.update(f"{rel}\0{sha}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def is_ignored(name: str) -> bool:
    """Whether a file name is documentation or hidden, skipped quietly."""
    return name.startswith(".") or name.lower() in IGNORED_NAMES


def discover_batches(landing: Path, source: str) -> list[Batch]:
    """Return the batches of `landing/<source>`, in order of `received_at`.

    Batches with the same `received_at` go in name order.

    Raises:
        IngestError: A data file lies outside a batch folder, or a batch's
            `manifest.json` or `export.json` does not read.
    """
    root = landing / source
    if not root.is_dir():
        logger.info("no landing folder for %s; nothing to ingest", source)
        return []
    batches = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            batches.append(read_batch(source, entry))
        elif entry.is_file() and not is_ignored(entry.name):
            msg = (
                f"file {entry.name} lies outside a batch folder; expected"
                f" landing/{source}/<batch>/<files>"
            )
            raise IngestError(msg)
    return sorted(batches, key=lambda batch: (batch.received_at, batch.name))


def batch_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """List a batch folder: its data files as `(rel, path)` and its ignored files.

    A file is ignored when any part of its path inside the batch is documentation or
    hidden. Both lists are in path order.
    """
    files: list[tuple[str, Path]] = []
    ignored: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        inside = path.relative_to(folder)
        if any(is_ignored(part) for part in inside.parts):
            ignored.append(inside.as_posix())
        else:
            files.append((inside.as_posix(), path))
    return files, ignored


def read_batch(source: str, folder: Path) -> Batch:
    """Hash and date one batch folder.

    Raises:
        IngestError: Its `manifest.json` or `export.json` does not read.
    """
    batch_id = f"{source}/{folder.name}"
    data_files, ignored = batch_files(folder)
    files = [LandedFile(rel, path, file_sha256(path)) for rel, path in data_files]
    names = {f.rel for f in files}
    manifest: dict[str, object] = {}
    received_at = None
    if MANIFEST in names:
        manifest = _read_json_object(folder / MANIFEST, batch_id, MANIFEST)
        received_at = _read_time(manifest, "transactionTime", batch_id, MANIFEST)
    if received_at is None and EXPORT in names:
        export = _read_json_object(folder / EXPORT, batch_id, EXPORT)
        received_at = _read_time(export, "exported_at", batch_id, EXPORT)
    if received_at is None:
        received_at = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)
    return Batch(
        source=source,
        name=folder.name,
        path=folder,
        files=tuple(files),
        received_at=received_at,
        ignored=tuple(ignored),
        manifest=manifest,
    )


def _read_json_object(path: Path, batch_id: str, rel: str) -> dict[str, object]:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict):
        msg = "does not parse; expected a JSON object"
        raise IngestError(msg, batch_id=batch_id, file=rel)
    return value


def _read_time(
    doc: dict[str, object], key: str, batch_id: str, rel: str
) -> datetime | None:
    """Read an ISO 8601 time (no offset reads as UTC); absent is None."""
    value = doc.get(key)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        msg = f"{key} is not an ISO 8601 time"
        raise IngestError(msg, batch_id=batch_id, file=rel) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
