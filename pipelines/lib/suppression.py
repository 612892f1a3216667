"""Small-cell suppression (RULES.md R-AGG): the one place counts are suppressed.

Every count that leaves the warehouse (a segment preview, a funnel table or chart, the
analyst notebook) passes through here. R-AGG, after the CMS Cell Size Suppression
Policy: a cell of 1 to 10 people is never shown (0 is), nor any cell from which a
value of 1 to 10 could be worked out through what the report publishes.

A report declares what a reader can compute from it as two kinds of relations:

- a *sum* ``total = part_1 + ... + part_n`` (e.g. people chosen = included +
  excluded; opened either way = opened by a person + opened only by a machine);
- a *chain*: cells whose pairwise differences are published or meaningful
  (drop-offs between funnel stages, or between the steps of a workflow). The
  difference of any two shown cells of a chain may itself count people.
- an *order*: cells a reader may take to be nested sets, each no larger than the one
  before (sent >= delivered >= opened). A hidden cell is then known to lie between
  the shown cells around it; a sum's parts are never larger than its total.

Rates (drop-off percentages) are shown only when both of their counts are shown, so
they publish nothing the counts do not.

The algorithm:

1. Primary suppression: hide every cell of 1 to 10.
2. Complementary suppression, repeated until nothing changes (a fixed point; each
   round hides one more cell, so it ends, at worst with every cell hidden):

   a. chain: two shown cells whose difference is 1 to 10: hide the smaller one;
   b. sum with exactly one hidden member: it equals the others' sum or difference,
      so hide one more member, the smallest positive shown part first;
   c. sum whose total is shown and whose hidden parts add up to 1 to 10: that
      small sum is derivable, so hide one more shown part (else the total);
   d. order: a hidden cell whose bounds (from the shown cells above and below it,
      through every order and sum, and 0) are less than 11 apart, so that its
      distance to a shown cell is known to be 10 or less: hide the shown cell
      that gives the tighter bound (the smaller of the two);
   e. safety net for sums that share cells: a hidden cell that the sums, taken
      together as linear equations, still determine: hide one more member of a sum
      it is in.

Note:
    Hiding is greedy (the smallest cell first), not the least information lost
    overall.

Example:
    >>> suppress({"chosen": 120, "included": 115, "excluded": 5},
    ...          sums=[("chosen", ("included", "excluded"))])
    {'chosen': 120, 'included': None, 'excluded': None}
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

#: The largest count R-AGG hides; 0 is shown.
SMALL_CELL_MAX = 10

#: Funnel stages, in order; `opened_any` = `opened` + `machine_opened_only`.
FUNNEL_STAGES = (
    "sent",
    "delivered",
    "opened_any",
    "opened",
    "machine_opened_only",
    "clicked",
    "converted",
)
#: The stages whose consecutive differences a funnel publishes as drop-off.
_FUNNEL_CHAIN = ("sent", "delivered", "opened_any", "opened", "clicked", "converted")
#: Each published rate: (name, numerator, denominator); shown as 1 - num / den.
FUNNEL_RATES = (
    ("delivery_drop_off", "delivered", "sent"),
    ("open_drop_off", "opened", "delivered"),
    ("click_drop_off", "clicked", "opened"),
    ("conversion_drop_off", "converted", "clicked"),
)
#: Figures about the people who opened, shown only when that count is shown.
_OPEN_TIMES = ("median_hours_to_open", "p90_hours_to_open")


class SuppressionError(ValueError):
    """A table handed to suppression is not a table of counts."""


def is_small(value: int) -> bool:
    """Whether R-AGG hides a count of this size (1 to 10; 0 is shown)."""
    return 1 <= value <= SMALL_CELL_MAX


def suppress(
    cells: Mapping[K, int],
    *,
    sums: Iterable[tuple[K, Sequence[K]]] = (),
    chains: Iterable[Sequence[K]] = (),
    orders: Iterable[Sequence[K]] = (),
) -> dict[K, int | None]:
    """Suppress small cells and their complements; hidden cells become None.

    Args:
        cells: Each cell's count of distinct people.
        sums: ``(total, parts)``: the total is the sum of the parts.
        chains: Cells any two of which a reader may subtract.
        orders: Cells a reader may take to be non-increasing, in that order.

    Returns:
        The same keys, with None for every hidden cell.

    Raises:
        SuppressionError: A count is not a non-negative integer, or a relation
            names a cell the table does not have.
    """
    sums = [(total, tuple(parts)) for total, parts in sums]
    chains = [tuple(chain) for chain in chains]
    orders = [tuple(order) for order in orders]
    _validate(cells, sums, [*chains, *orders])
    # a >= b for every (a, b): consecutive cells of an order, and total >= part
    edges = [
        (order[i], order[i + 1]) for order in orders for i in range(len(order) - 1)
    ]
    edges += [(total, part) for total, parts in sums for part in parts]
    hidden = {key for key, value in cells.items() if is_small(value)}
    while (extra := _next_complement(cells, hidden, sums, chains, edges)) is not None:
        hidden.add(extra)
    return {key: None if key in hidden else value for key, value in cells.items()}


def _validate(
    cells: Mapping[K, int],
    sums: list[tuple[K, tuple[K, ...]]],
    chains: list[tuple[K, ...]],
) -> None:
    for key, value in cells.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            msg = f"cell {key!r}: expected a count (int), got {type(value).__name__}"
            raise SuppressionError(msg)
        if value < 0:
            msg = f"cell {key!r}: expected a count of 0 or more, got {value}"
            raise SuppressionError(msg)
    for total, parts in sums:
        for key in (total, *parts):
            if key not in cells:
                msg = f"sum {total!r}: no cell {key!r} in the table"
                raise SuppressionError(msg)
    for chain in chains:
        for key in chain:
            if key not in cells:
                msg = f"chain or order {chain!r}: no cell {key!r} in the table"
                raise SuppressionError(msg)


def _cheapest(cells: Mapping[K, int], keys: Sequence[K]) -> K:
    """The cell whose hiding loses least: the smallest positive, zeros last."""
    return min(keys, key=lambda key: (cells[key] == 0, cells[key]))


def _next_complement(
    cells: Mapping[K, int],
    hidden: set[K],
    sums: list[tuple[K, tuple[K, ...]]],
    chains: list[tuple[K, ...]],
    edges: list[tuple[K, K]],
) -> K | None:
    """One more cell to hide, or None at the fixed point."""
    for chain in chains:
        shown = [key for key in chain if key not in hidden]
        for first, second in combinations(shown, 2):
            if is_small(abs(cells[first] - cells[second])):
                return second if cells[second] <= cells[first] else first
    for total, parts in sums:
        members = (total, *parts)
        shown = [key for key in members if key not in hidden]
        if len(members) - len(shown) == 1 and shown:
            shown_parts = [key for key in parts if key not in hidden]
            return _cheapest(cells, shown_parts or shown)
        hidden_parts = [key for key in parts if key in hidden]
        if (
            total not in hidden
            and len(hidden_parts) >= 2
            and is_small(sum(cells[key] for key in hidden_parts))
        ):
            shown_parts = [key for key in parts if key not in hidden]
            return _cheapest(cells, shown_parts) if shown_parts else total
    upper, lower = bounds(cells, hidden, edges)
    for key in sorted(hidden, key=repr):
        (high, above), (low, below) = upper[key], lower[key]
        if above is not None and 0 < high and high - low <= SMALL_CELL_MAX:
            return _cheapest(
                cells, [cell for cell in (above, below) if cell is not None]
            )
    for key in determined_cells(hidden, sums):
        for total, parts in sums:
            members = (total, *parts)
            shown = [member for member in members if member not in hidden]
            if key in members and shown:
                return _cheapest(cells, shown)
    return None


def bounds(
    cells: Mapping[K, int], hidden: set[K], edges: Sequence[tuple[K, K]]
) -> tuple[dict[K, tuple[float, K | None]], dict[K, tuple[int, K | None]]]:
    """What a reader can bound each cell by, from the shown cells and the orders.

    Args:
        cells: The counts.
        hidden: The cells not shown.
        edges: ``(a, b)`` pairs a reader takes to mean ``a >= b``.

    Returns:
        For each cell, its upper bound and lower bound, each with the shown cell
        that gives it (None for no upper bound, infinity, or the lower bound 0).

    Example:
        >>> upper, lower = bounds({"a": 50, "b": 45, "c": 40}, {"b"},
        ...                       [("a", "b"), ("b", "c")])
        >>> upper["b"], lower["b"]
        ((50, 'a'), (40, 'c'))
    """
    upper: dict[K, tuple[float, K | None]] = {}
    lower: dict[K, tuple[int, K | None]] = {}
    for key, value in cells.items():
        shown = key not in hidden
        upper[key] = (value, key) if shown else (float("inf"), None)
        lower[key] = (value, key) if shown else (0, None)
    # Bellman-Ford style: each pass carries bounds one edge further.
    for _ in range(len(cells)):
        changed = False
        for high, low in edges:
            if upper[high][0] < upper[low][0]:
                upper[low] = upper[high]
                changed = True
            if lower[low][0] > lower[high][0]:
                lower[high] = lower[low]
                changed = True
        if not changed:
            break
    return upper, lower


def determined_cells(
    hidden: Iterable[K], sums: Iterable[tuple[K, Sequence[K]]]
) -> list[K]:
    """Hidden cells whose value the sums, as linear equations, pin down exactly.

    Shown cells are constants; a hidden cell is determined when its unit vector lies
    in the row space of the equations' coefficients over the hidden cells.

    Example:
        >>> determined_cells({"a"}, [("t", ("a", "b"))])
        ['a']
        >>> determined_cells({"a", "b"}, [("t", ("a", "b"))])
        []
    """
    hidden = set(hidden)
    rows = []
    unknowns: list[K] = []
    for total, parts in sums:
        row: dict[K, float] = {}
        for key, sign in ((total, 1.0), *((part, -1.0) for part in parts)):
            if key in hidden:
                row[key] = row.get(key, 0.0) + sign
                if key not in unknowns:
                    unknowns.append(key)
        if row:
            rows.append(row)
    if not rows:
        return []
    matrix = np.array([[row.get(key, 0.0) for key in unknowns] for row in rows])
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for index, key in enumerate(unknowns):
        unit = np.zeros(len(unknowns))
        unit[index] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.append(key)
    return found


def suppress_preview(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Suppress a segment preview: chosen = included + excluded; rules overlap.

    A person excluded by several rules counts under each, so the rule counts add
    up to nothing; but the difference between `excluded` (or `chosen`) and a rule's
    count is a count of people, and so, conservatively, is the difference between
    two rules' counts: they all form one chain.

    Args:
        counts: ``chosen``, ``included``, ``excluded`` and ``excluded_by_rule``
            (rule id to count); any other key (such as ``as_of``) passes through.

    Returns:
        The same shape, with None for every hidden count.

    Example:
        >>> suppress_preview({"chosen": 80, "included": 50, "excluded": 30,
        ...                   "excluded_by_rule": {"R-MINOR": 25, "R-DECEASED": 4}})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'chosen': 80, 'included': 50, 'excluded': 30,
         'excluded_by_rule': {'R-MINOR': None, 'R-DECEASED': None}}
    """
    by_rule = dict(counts.get("excluded_by_rule") or {})
    cells: dict[tuple[str, ...], int] = {
        ("chosen",): counts["chosen"],
        ("included",): counts["included"],
        ("excluded",): counts["excluded"],
        **{("rule", rule_id): count for rule_id, count in by_rule.items()},
    }
    shown = suppress(
        cells,
        sums=[(("chosen",), (("included",), ("excluded",)))],
        chains=[
            (("chosen",), ("excluded",), *(("rule", rule_id) for rule_id in by_rule))
        ],
        orders=[(("chosen",), ("excluded",), ("rule", rule_id)) for rule_id in by_rule],
    )
    result = dict(counts)
    for name in ("chosen", "included", "excluded"):
        result[name] = shown[(name,)]
    result["excluded_by_rule"] = {
        rule_id: shown[("rule", rule_id)] for rule_id in by_rule
    }
    return result


def suppress_funnel(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Suppress a funnel: the rows of marts.fct_campaign_funnel (or its functions).

    Relations published: in each row, every difference between stages (drop-off)
    and opened either way = opened by a person + opened only by a machine; across
    the steps of one workflow, the difference in people sent (step drop-off). A
    reader may take both to be nested sets, and bound a hidden stage by its
    neighbours. A
    rate is shown only when both its counts are, and the hours to open only when
    the count of people who opened is.

    Args:
        rows: One mapping per step with ``campaign_id``, ``workflow_id``,
            ``step_id``, ``step_number`` and every stage of `FUNNEL_STAGES`.

    Returns:
        One dict per step, in the order given: the identifiers, every stage count
        (None when hidden), ``previous_step_sent``, the rates of `FUNNEL_RATES`
        plus ``step_drop_off``, the hours to open, and ``suppressed``, the names of
        the hidden counts.
    """
    cells: dict[tuple[int, str], int] = {}
    for index, row in enumerate(rows):
        for stage in FUNNEL_STAGES:
            if stage not in row or row[stage] is None:
                msg = f"funnel row {index}: expected a count {stage!r}, got none"
                raise SuppressionError(msg)
            cells[(index, stage)] = row[stage]
    sums = [
        ((index, "opened_any"), ((index, "opened"), (index, "machine_opened_only")))
        for index in range(len(rows))
    ]
    chains = [
        tuple((index, stage) for stage in _FUNNEL_CHAIN) for index in range(len(rows))
    ]
    previous = _previous_steps(rows)
    workflows: dict[tuple[Any, Any], list[int]] = {}
    for index, row in enumerate(rows):
        workflows.setdefault((row["campaign_id"], row["workflow_id"]), []).append(index)
    for indexes in workflows.values():
        ordered = sorted(indexes, key=lambda index: rows[index]["step_number"])
        chains.append(tuple((index, "sent") for index in ordered))
    # a funnel reads as nested sets: each stage, and each step, within the last
    shown = suppress(cells, sums=sums, chains=chains, orders=chains)

    result = []
    for index, row in enumerate(rows):
        out: dict[str, Any] = {
            "campaign_id": row["campaign_id"],
            "workflow_id": row["workflow_id"],
            "step_id": row["step_id"],
            "step_number": row["step_number"],
        }
        for stage in FUNNEL_STAGES:
            out[stage] = shown[(index, stage)]
        before = previous[index]
        out["previous_step_sent"] = None if before is None else shown[(before, "sent")]
        for name, numerator, denominator in FUNNEL_RATES:
            out[name] = _drop_off(out[numerator], out[denominator])
        out["step_drop_off"] = _drop_off(out["sent"], out["previous_step_sent"])
        for name in _OPEN_TIMES:
            out[name] = row.get(name) if out["opened"] else None
        out["suppressed"] = [s for s in FUNNEL_STAGES if out[s] is None]
        result.append(out)
    return result


def _previous_steps(rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """For each row, the index of the previous step of its workflow, if any."""
    previous: list[int | None] = []
    for row in rows:
        earlier = [
            (other["step_number"], index)
            for index, other in enumerate(rows)
            if other["campaign_id"] == row["campaign_id"]
            and other["workflow_id"] == row["workflow_id"]
            and other["step_number"] < row["step_number"]
        ]
        previous.append(max(earlier)[1] if earlier else None)
    return previous


def _drop_off(numerator: int | None, denominator: int | None) -> float | None:
    """1 - numerator / denominator, or None when either is hidden or it is 0/0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return 1.0 - numerator / denominator
