"""An append-only, hash-chained log of every command and export (R-AUDIT, R-SEC).

The log is a JSON-lines file under the home, `audit/audit-log.jsonl`, one entry per
line. Each entry carries the hash of the entry before it (`prev`) and its own hash
over every other field, so editing, reordering or deleting an entry breaks the chain
at the first line touched. A small head file, `audit/audit-log.head`, records the
sequence number and hash of the last entry, so that cutting entries off the end is
caught too.

A file rather than a warehouse table: DuckDB admits one writing process at a time, and
the log must take an entry while a Dagster run holds the warehouse (an export writes
its own entry from inside the run), must be readable when the warehouse is missing,
locked or encrypted with a key the auditor does not hold, and must survive a rebuilt
warehouse. Appends take an exclusive `flock`, so concurrent commands on one home
never interleave or fork the chain.

Note:
    The chain proves integrity against anyone who cannot rewrite both the log and its
    head; someone who can rewrite the whole folder can forge a consistent history.
    Copying the head hash somewhere the writer cannot reach (a ticket, a WORM store)
    closes that gap; the log does not do it for you.
"""

import fcntl
import getpass
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
ENTRY_FIELDS = (
    "seq",
    "at",
    "user",
    "roles",
    "action",
    "arguments",
    "outcome",
    "exit_code",
    "detail",
    "prev",
    "hash",
)
# Options whose values identify a person directly: the log keeps a short hash, so an
# auditor holding the value can still match the entry, but the log carries no PHI.
REDACTED_OPTIONS = frozenset({"--email", "--mrn", "--phone", "--name"})


class AuditLogError(RuntimeError):
    """The audit log cannot be read or written."""


def log_path(home_root: Path) -> Path:
    """The audit log file of a home."""
    return home_root / "audit" / "audit-log.jsonl"


def head_path(home_root: Path) -> Path:
    """The head file: sequence number and hash of the last entry."""
    return home_root / "audit" / "audit-log.head"


def current_user() -> str:
    """The acting user: `CLEARLIST_USER`, else the operating-system user."""
    return os.environ.get("CLEARLIST_USER") or getpass.getuser()


def entry_hash(entry: dict[str, Any]) -> str:
    """Hash every field of an entry except `hash`, in a canonical JSON form."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def redact_arguments(arguments: list[str]) -> list[str]:
    """Replace the values of person-identifying options with a short hash.

    >>> redact_arguments(["--mrn", "MRN1", "--json"])
    ['--mrn', 'sha256:bd6f1c6c8d0a', '--json']
    """
    redacted: list[str] = []
    hide_next = False
    for argument in arguments:
        if hide_next:
            redacted.append(_short_hash(argument))
            hide_next = False
            continue
        name, equals, value = argument.partition("=")
        if name in REDACTED_OPTIONS and equals:
            redacted.append(f"{name}={_short_hash(value)}")
        else:
            redacted.append(argument)
            hide_next = argument in REDACTED_OPTIONS
    return redacted


def _short_hash(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


@contextmanager
def _locked(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _last_entry(handle: Any) -> dict[str, Any] | None:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return None
    # Read back from the end until a whole last line is in hand.
    chunk = 4096
    while True:
        start = max(0, size - chunk)
        handle.seek(start)
        tail = handle.read()
        lines = tail.rstrip("\n").split("\n")
        if len(lines) > 1 or start == 0:
            break
        chunk *= 4
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as error:
        msg = (
            "the last audit log entry is not valid JSON; run `clearlist audit verify`"
            " and keep the file as evidence before anything else is appended"
        )
        raise AuditLogError(msg) from error


def append(
    home_root: Path,
    *,
    action: str,
    outcome: str,
    arguments: list[str] | None = None,
    roles: list[str] | None = None,
    exit_code: int | None = None,
    detail: dict[str, Any] | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """Append one entry to the home's audit log and return it.

    Args:
        home_root: The Clearlist home.
        action: What was asked, e.g. `export` or `audit lineage`.
        outcome: `ok`, `refused`, `failed`, `blocked`, `usage-error`, ...
        arguments: The command's arguments; person identifiers are redacted here.
        roles: The roles the user held.
        exit_code: The command's exit code, if it is a command.
        detail: Keys and counts (export id, sha256, rows); never row values.
        user: The acting user; `current_user()` by default.
    """
    path = log_path(home_root)
    with _locked(path) as handle:
        last = _last_entry(handle)
        entry: dict[str, Any] = {
            "seq": (last["seq"] + 1) if last else 1,
            "at": datetime.now(UTC).isoformat(),
            "user": user or current_user(),
            "roles": sorted(roles or []),
            "action": action,
            "arguments": redact_arguments(list(arguments or [])),
            "outcome": outcome,
            "exit_code": exit_code,
            "detail": detail or {},
            "prev": last["hash"] if last else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        handle.seek(0, os.SEEK_END)
        handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        _write_head(home_root, entry)
    logger.debug("audit entry %d: %s %s", entry["seq"], action, outcome)
    return entry


def _write_head(home_root: Path, entry: dict[str, Any]) -> None:
    target = head_path(home_root)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".head-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"seq": entry["seq"], "hash": entry["hash"]}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


@dataclass
class Verification:
    """The result of checking a log: the first bad line, if any, and why."""

    entries: int
    first_bad_line: int | None = None
    reason: str = ""
    last_hash: str = GENESIS
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        """True when every entry and the head agree."""
        return self.first_bad_line is None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "intact": self.intact,
            "entries": self.entries,
            "first_bad_line": self.first_bad_line,
            "reason": self.reason,
            "last_hash": self.last_hash,
            "actions": self.actions,
        }


def verify(home_root: Path) -> Verification:
    """Check every entry's hash, sequence and link, then the head.

    Returns:
        The verification; `first_bad_line` is 1-based and names the first line that
        was edited, moved, inserted or follows a deleted entry. Entries cut off the
        end are reported at the line after the last one left.
    """
    path = log_path(home_root)
    if not path.exists():
        head = head_path(home_root)
        if head.exists():
            return Verification(0, 1, "the log file is missing but its head exists")
        return Verification(0)
    previous = GENESIS
    count = 0
    actions: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            problem = _check_line(line, number, previous)
            if problem:
                return Verification(count, number, problem, previous, actions)
            entry = json.loads(line)
            previous = entry["hash"]
            count = number
            actions[entry["action"]] = actions.get(entry["action"], 0) + 1
    head = _read_head(home_root)
    if head is None:
        if count:
            return Verification(
                count, count + 1, "the head file is missing", previous, actions
            )
        return Verification(0)
    if head.get("seq") != count or head.get("hash") != previous:
        reason = (
            f"the head records entry {head.get('seq')} but the log ends at entry"
            f" {count}: entries were cut off the end or the head was replaced"
        )
        return Verification(count, count + 1, reason, previous, actions)
    return Verification(count, None, "", previous, actions)


def _check_line(line: str, number: int, previous: str) -> str:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return "not valid JSON"
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
        return "fields were added or removed"
    if entry["hash"] != entry_hash(entry):
        return "the entry was edited (its hash does not match its content)"
    if entry["seq"] != number:
        return f"expected entry {number}, found entry {entry['seq']}"
    if entry["prev"] != previous:
        return "the link to the previous entry is broken (moved, inserted or deleted)"
    return ""


def _read_head(home_root: Path) -> dict[str, Any] | None:
    path = head_path(home_root)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def read_entries(home_root: Path) -> list[dict[str, Any]]:
    """Every entry of the log, in order (no verification)."""
    path = log_path(home_root)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def record_export(home_root: Path, *, outcome: str, detail: dict[str, Any]) -> None:
    """Log an export decision made inside a run, whichever face started the run.

    An export run from the Dagster UI never passes through the command line, so the
    export step writes its own entry: the approved file's id, hash and row count, or
    the gate's block.
    """
    from pipelines.lib.audit.roles import RolesError, grant_for

    try:
        roles = list(grant_for(home_root).roles)
    except RolesError:
        roles = []
    action = "export.approved" if outcome == "approved" else "export.blocked"
    append(home_root, action=action, outcome=outcome, roles=roles, detail=detail)
