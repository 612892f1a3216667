"""The audit log's hash chain catches every edit, move and deletion."""

import json
import threading
from pathlib import Path

import pytest

from pipelines.lib.audit import log


def _write(home: Path, entries: int = 5) -> list[str]:
    for number in range(entries):
        log.append(
            home,
            action="export" if number % 2 else "build",
            outcome="ok",
            arguments=["--as-of", f"2026-06-0{number + 1}T00:00:00Z"],
            roles=["admin"],
            exit_code=0,
            user="ana",
        )
    return log.log_path(home).read_text().splitlines(keepends=True)


def _rewrite(home: Path, lines: list[str]) -> None:
    log.log_path(home).write_text("".join(lines))


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    _write(tmp_path)
    result = log.verify(tmp_path)
    assert result.intact, result.reason
    assert result.entries == 5
    assert result.actions == {"build": 3, "export": 2}
    entries = log.read_entries(tmp_path)
    assert [entry["seq"] for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == log.GENESIS
    assert all(
        later["prev"] == earlier["hash"]
        for earlier, later in zip(entries, entries[1:], strict=False)
    )


def _edit_field(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["outcome"] = "refused"
    return [*lines[:2], json.dumps(entry) + "\n", *lines[3:]]


def _edit_and_rehash(lines: list[str]) -> list[str]:
    # A forger who recomputes the edited entry's own hash still breaks the next link.
    entry = json.loads(lines[2])
    entry["user"] = "mallory"
    entry["hash"] = log.entry_hash(entry)
    return [*lines[:2], json.dumps(entry) + "\n", *lines[3:]]


@pytest.mark.parametrize(
    ("tamper", "first_bad_line", "reason"),
    [
        (_edit_field, 3, "edited"),
        (_edit_and_rehash, 4, "link"),
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2, "expected entry"),
        (lambda lines: [*lines[:2], *lines[3:]], 3, "expected entry"),
        (lambda lines: lines[1:], 1, "expected entry"),
        (lambda lines: lines[:-1], 5, "cut off"),
        (lambda lines: [*lines[:2], "{not json\n", *lines[2:]], 3, "JSON"),
    ],
    ids=[
        "edited",
        "edited-and-rehashed",
        "reordered",
        "deleted-middle",
        "deleted-first",
        "deleted-last",
        "inserted-garbage",
    ],
)
def test_tampering_names_the_first_bad_line(
    tmp_path: Path, tamper, first_bad_line: int, reason: str
) -> None:
    lines = _write(tmp_path)
    _rewrite(tmp_path, tamper(lines))
    result = log.verify(tmp_path)
    assert not result.intact
    assert result.first_bad_line == first_bad_line
    assert reason in result.reason


def test_a_missing_head_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, 2)
    log.head_path(tmp_path).unlink()
    result = log.verify(tmp_path)
    assert (result.intact, result.first_bad_line) == (False, 3)


def test_person_identifiers_never_reach_the_log(tmp_path: Path) -> None:
    log.append(
        tmp_path,
        action="audit disclosures",
        outcome="ok",
        arguments=["--mrn", "MRN5234879", "--email=ana@example.org", "--json"],
    )
    text = log.log_path(tmp_path).read_text()
    assert "MRN5234879" not in text
    assert "ana@example.org" not in text
    assert log.read_entries(tmp_path)[0]["arguments"][3] == "--json"


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    def writer(name: str) -> None:
        for _ in range(25):
            log.append(tmp_path, action="explain", outcome="ok", user=name)

    threads = [threading.Thread(target=writer, args=(f"u{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = log.verify(tmp_path)
    assert result.intact, result.reason
    assert result.entries == 100
