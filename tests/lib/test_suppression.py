"""R-AGG small-cell suppression: properties over random tables, funnels and previews.

The derivation check here is independent of the module's: exact rational row
reduction over the published sums, asking of every hidden cell, and of every sum of
hidden parts of one relation, whether the shown cells pin it down.
"""

from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.suppression import (
    FUNNEL_RATES,
    FUNNEL_STAGES,
    SuppressionError,
    suppress,
    suppress_funnel,
    suppress_preview,
)

# Counts near the 10/11 border turn up often; larger ones now and then.
counts = st.one_of(st.integers(0, 24), st.integers(0, 300))


def _rank(rows: list[list[Fraction]]) -> int:
    matrix = [row[:] for row in rows]
    rank = 0
    columns = len(matrix[0]) if matrix else 0
    for column in range(columns):
        pivot = next(
            (r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None
        )
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column] != 0:
                factor = matrix[r][column] / matrix[rank][column]
                matrix[r] = [
                    a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)
                ]
        rank += 1
    return rank


def _derivable(vector: dict, hidden: list, sums: list) -> bool:
    """Whether sum(vector[k] * x_k) over hidden cells follows from the sums."""
    rows = []
    for total, parts in sums:
        row = {total: Fraction(1)}
        for part in parts:
            row[part] = row.get(part, Fraction(0)) - 1
        rows.append([row.get(key, Fraction(0)) for key in hidden])
    target = [Fraction(vector.get(key, 0)) for key in hidden]
    if not any(target):
        return False
    if not rows:
        return False
    return _rank([*rows, target]) == _rank(rows)


def _reachable(edges: list, start) -> set:
    """Cells reachable from `start` along (a, b) edges (a >= b)."""
    seen, frontier = set(), [start]
    while frontier:
        key = frontier.pop()
        for high, low in edges:
            if high == key and low not in seen:
                seen.add(low)
                frontier.append(low)
    return seen


def assert_safe(
    cells: dict, shown: dict, sums: list, chains: list, orders: list = ()
) -> None:
    assert shown.keys() == cells.keys()
    hidden = [key for key, value in shown.items() if value is None]
    for key, value in shown.items():
        # shown cells are never small, and never altered
        assert value is None or value == cells[key]
        assert value is None or not 1 <= value <= 10, (key, value)
    for chain in chains:
        visible = [key for key in chain if shown[key] is not None]
        for first, second in combinations(visible, 2):
            assert not 1 <= abs(cells[first] - cells[second]) <= 10, (first, second)
    for key in hidden:
        assert not _derivable({key: 1}, hidden, sums), key
    for total, parts in sums:
        members = [key for key in (total, *parts) if key in hidden]
        for size in range(2, len(members) + 1):
            for subset in combinations(members, size):
                value = sum(cells[key] for key in subset if key != total)
                value -= cells[total] if total in subset else 0
                if _derivable(
                    {k: (-1 if k == total else 1) for k in subset}, hidden, sums
                ):
                    assert not 1 <= abs(value) <= 10, subset
    # nesting: a reader bounds a hidden cell by the shown cells above and below it
    edges = [(o[i], o[i + 1]) for o in orders for i in range(len(o) - 1)]
    edges += [(total, part) for total, parts in sums for part in parts]
    for key in hidden:
        above = [c for c in cells if c != key and key in _reachable(edges, c)]
        below = _reachable(edges, key) - {key}
        highs = [cells[c] for c in above if shown[c] is not None]
        lows = [cells[c] for c in below if shown[c] is not None]
        if highs and min(highs) > 0:
            assert min(highs) - max([0, *lows]) > 10, (key, highs, lows)


@st.composite
def tables(draw):
    parts = draw(st.lists(counts, min_size=2, max_size=4))
    others = draw(st.lists(counts, min_size=0, max_size=4))
    cells = {"total": sum(parts)}
    cells |= {f"part{i}": value for i, value in enumerate(parts)}
    cells |= {f"other{i}": value for i, value in enumerate(others)}
    sums = [("total", tuple(f"part{i}" for i in range(len(parts))))]
    chain = draw(st.permutations(sorted(cells)))
    chain = tuple(chain[: draw(st.integers(0, len(chain)))])
    # an order the data keeps: the other cells, largest first
    order = tuple(sorted((k for k in cells if k.startswith("other")), key=cells.get))
    return cells, sums, [chain] if chain else [], [order[::-1]]


@given(tables())
@settings(max_examples=150, deadline=None)
def test_no_small_cell_and_nothing_small_derivable(table):
    cells, sums, chains, orders = table
    shown = suppress(cells, sums=sums, chains=chains, orders=orders)
    assert_safe(cells, shown, sums, chains, orders)


@given(st.dictionaries(st.text(min_size=1, max_size=3), counts, max_size=8))
@settings(max_examples=150, deadline=None)
def test_without_relations_only_small_cells_are_hidden(cells):
    shown = suppress(cells)
    assert {k for k, v in shown.items() if v is None} == {
        k for k, v in cells.items() if 1 <= v <= 10
    }


@st.composite
def funnels(draw):
    rows = []
    for workflow in range(draw(st.integers(1, 2))):
        sent = draw(counts)
        for step in range(1, draw(st.integers(1, 4)) + 1):
            sent = draw(st.integers(0, sent))
            delivered = draw(st.integers(0, sent))
            opened = draw(st.integers(0, delivered))
            machine = draw(st.integers(0, delivered - opened))
            clicked = draw(st.integers(0, opened))
            converted = draw(st.integers(0, clicked + 3))
            rows.append(
                {
                    "campaign_id": "k",
                    "workflow_id": f"w{workflow}",
                    "step_id": f"w{workflow}:s{step}",
                    "step_number": step,
                    "sent": sent,
                    "delivered": delivered,
                    "opened_any": opened + machine,
                    "opened": opened,
                    "machine_opened_only": machine,
                    "clicked": clicked,
                    "converted": converted,
                    "median_hours_to_open": 2.5,
                    "p90_hours_to_open": 9.0,
                }
            )
    return rows


@given(funnels())
@settings(max_examples=150, deadline=None)
def test_funnel_shows_nothing_small_nor_derivable(rows):
    shown_rows = suppress_funnel(rows)
    cells = {(i, s): row[s] for i, row in enumerate(rows) for s in FUNNEL_STAGES}
    shown = {(i, s): row[s] for i, row in enumerate(shown_rows) for s in FUNNEL_STAGES}
    sums = [
        ((i, "opened_any"), ((i, "opened"), (i, "machine_opened_only")))
        for i in range(len(rows))
    ]
    # every stage difference in a row, and people sent across a workflow's steps
    chains = [tuple((i, s) for s in FUNNEL_STAGES) for i in range(len(rows))]
    for workflow in {row["workflow_id"] for row in rows}:
        steps = [i for i, row in enumerate(rows) if row["workflow_id"] == workflow]
        chains.append(tuple((i, "sent") for i in steps))
    chains = [
        tuple(key for key in chain if key[1] != "machine_opened_only")
        for chain in chains
    ]
    assert_safe(cells, shown, sums, chains, chains)
    for row in shown_rows:
        for name, numerator, denominator in FUNNEL_RATES:
            if row[name] is not None:
                assert row[numerator] is not None and row[denominator] is not None
        if row["step_drop_off"] is not None:
            assert row["sent"] is not None and row["previous_step_sent"] is not None
        if row["median_hours_to_open"] is not None:
            assert row["opened"] is not None and row["opened"] > 10
        assert row["suppressed"] == [s for s in FUNNEL_STAGES if row[s] is None]


@st.composite
def previews(draw):
    chosen = draw(counts)
    included = draw(st.integers(0, chosen))
    excluded = chosen - included
    rules = draw(
        st.dictionaries(
            st.sampled_from(["R-MINOR", "R-DECEASED", "R-MKT-AUTH", "R-SENS"]),
            st.integers(0, excluded),
        )
    )
    return {
        "as_of": "2026-06-01T09:00:00+00:00",
        "chosen": chosen,
        "included": included,
        "excluded": excluded,
        "excluded_by_rule": rules,
    }


@given(previews())
@settings(max_examples=150, deadline=None)
def test_preview_shows_nothing_small_nor_derivable(counts):
    shown = suppress_preview(counts)
    assert shown["as_of"] == counts["as_of"]
    flat = {
        **{k: counts[k] for k in ("chosen", "included", "excluded")},
        **{("rule", r): n for r, n in counts["excluded_by_rule"].items()},
    }
    flat_shown = {
        **{k: shown[k] for k in ("chosen", "included", "excluded")},
        **{("rule", r): n for r, n in shown["excluded_by_rule"].items()},
    }
    rules = [("rule", r) for r in counts["excluded_by_rule"]]
    assert_safe(
        flat,
        flat_shown,
        [("chosen", ("included", "excluded"))],
        [("chosen", "excluded", *rules)],
        [("chosen", "excluded", rule) for rule in rules],
    )


def test_a_small_drop_off_hides_the_later_stage_and_its_rates():
    row = {
        "campaign_id": "k",
        "workflow_id": "w",
        "step_id": "s1",
        "step_number": 1,
        "sent": 250,
        "delivered": 245,
        "opened_any": 80,
        "opened": 50,
        "machine_opened_only": 30,
        "clicked": 12,
        "converted": 0,
        "median_hours_to_open": 3.0,
        "p90_hours_to_open": 11.0,
    }
    (shown,) = suppress_funnel([row])
    # 250 - 245 = 5 people bounced: delivered hides, and the rates that use it
    assert shown["sent"] == 250 and shown["delivered"] is None
    assert shown["delivery_drop_off"] is None and shown["open_drop_off"] is None
    # clicked 12 - converted 0 = 12 is safe; opened 50 - clicked 12 = 38 too
    assert (shown["opened"], shown["clicked"], shown["converted"]) == (50, 12, 0)
    assert shown["click_drop_off"] == pytest.approx(1 - 12 / 50)
    assert shown["median_hours_to_open"] == 3.0


def test_bad_counts_are_refused():
    with pytest.raises(SuppressionError, match="expected a count of 0 or more"):
        suppress({"a": -1})
    with pytest.raises(SuppressionError, match="expected a count"):
        suppress({"a": 2.5})
    with pytest.raises(SuppressionError, match="no cell 'b'"):
        suppress({"a": 20}, sums=[("a", ("b",))])
