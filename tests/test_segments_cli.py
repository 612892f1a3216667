"""`clearlist segments list` and `preview`, on a copy of the demo home.

The counts they print are checked against the segment's decision rows, counted here
in Python, and never show a value from 1 to 10 (R-AGG).
"""

import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DemoHome, run_cli

pytestmark = pytest.mark.slow

SEGMENT = "seg_wellness_program_email"


@pytest.fixture(scope="module")
def home_copy(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segments-home") / "home"
    shutil.copytree(demo_home.root, root)
    return root


def _decisions(home: Path) -> list[tuple[str, bool, str]]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(
            f"select person_id, is_included, rules_fired from segments.{SEGMENT}"
        ).fetchall()


def _shown(value):
    assert value is None or not 1 <= value <= 10, value
    return value


def test_list_names_every_segment_with_its_declaration(home_copy: Path):
    result = run_cli(home_copy, "segments", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {row["segment"]: row for row in json.loads(result.stdout)}
    assert SEGMENT in listed
    row = listed[SEGMENT]
    assert (row["purpose"], row["channel"], row["marketing_topic"]) == (
        "MARKETING",
        "email",
        "wellness-program",
    )
    included = sum(1 for _, is_included, _ in _decisions(home_copy) if is_included)
    assert _shown(row["included"]) in (included, None)


def test_preview_counts_match_the_decisions_and_hide_small_cells(home_copy: Path):
    as_of = "2026-06-01T09:00:00-04:00"
    result = run_cli(
        home_copy, "segments", "preview", SEGMENT, "--as-of", as_of, "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["segment"] == SEGMENT
    assert shown["as_of"].startswith("2026-06-01T13:00:00")

    decisions = _decisions(home_copy)
    included = sum(1 for _, is_included, _ in decisions if is_included)
    by_rule = Counter(
        rule
        for _, is_included, rules in decisions
        if not is_included
        for rule in set(rules.split(";"))
        if rule
    )
    expected = {
        "chosen": len(decisions),
        "included": included,
        "excluded": len(decisions) - included,
    }
    for label, count in expected.items():
        assert _shown(shown[label]) in (count, None), label
    assert set(shown["excluded_by_rule"]) == set(by_rule)
    for rule, count in by_rule.items():
        assert _shown(shown["excluded_by_rule"][rule]) in (count, None), rule
    # Every excluded person has at least one rule, and nobody included has one.
    assert all(bool(rules) != is_included for _, is_included, rules in decisions)


def test_preview_of_an_unknown_segment_exits_1(home_copy: Path):
    result = run_cli(home_copy, "segments", "preview", "seg_does_not_exist")
    assert result.returncode == 1
    assert "no segment named 'seg_does_not_exist'" in result.stderr
