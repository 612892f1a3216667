"""Campaign funnels as they may leave the warehouse: suppressed, tabled and charted.

The funnel itself is the dbt logic in `macros/campaign_funnel.sql`, which DuckDB
keeps as functions of an instant (`marts.campaign_funnel_at`,
`marts.segment_campaign_funnel_at`); this module only calls them on a read-only
connection and passes every count through `pipelines.lib.suppression` (R-AGG)
before anyone sees it. The command line (`clearlist funnel`) and the analyst
notebook both use it.
"""

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.lib.suppression import suppress_funnel

logger = logging.getLogger(__name__)

#: The stages a chart draws, in funnel order, with their labels.
CHART_STAGES = (
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("opened", "opened (person)"),
    ("machine_opened_only", "machine open only"),
    ("clicked", "clicked"),
    ("converted", "converted"),
)
HIDDEN_LABEL = "<11"


class FunnelError(LookupError):
    """The campaign, segment or funnel function asked for is not in the warehouse."""


def campaign_ids(con: duckdb.DuckDBPyConnection, as_of: datetime) -> list[str]:
    """Campaigns with email or conversion events known at `as_of`."""
    rows = _call(
        con,
        "select distinct campaign_id from marts.campaign_funnel_at(?::timestamptz)"
        " order by campaign_id",
        [as_of],
    )
    return [row[0] for row in rows]


def funnel_report(
    con: duckdb.DuckDBPyConnection,
    campaign_id: str,
    as_of: datetime,
    *,
    segment_table: str | None = None,
) -> list[dict[str, Any]]:
    """The suppressed funnel of one campaign at `as_of`, one dict per step.

    Args:
        con: A connection to the warehouse (read-only is enough).
        campaign_id: The campaign, as the ESP's custom arguments carry it.
        as_of: The instant: only events the organization knew by then count.
        segment_table: ``schema.table`` of a built segment: count only the people
            it included (its last build), for the sends of a campaign the segment
            declares.

    Returns:
        The rows of `suppression.suppress_funnel`, ordered by workflow and step.

    Raises:
        FunnelError: No such campaign at `as_of`, no such segment table, or no
            funnel function in the warehouse.
    """
    columns = (
        "campaign_id, workflow_id, step_id, step_number, sent, delivered, opened_any,"
        " opened, machine_opened_only, clicked, converted, median_hours_to_open,"
        " p90_hours_to_open"
    )
    if segment_table is None:
        source, parameters = "marts.campaign_funnel_at(?::timestamptz)", [as_of]
    else:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", segment_table):
            msg = f"expected a segment table as schema.name, got {segment_table!r}"
            raise FunnelError(msg)
        schema, table = segment_table.split(".")
        exists = con.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()
        if not exists or not exists[0]:
            msg = f"segment table {segment_table} is not built: run its preview first"
            raise FunnelError(msg)
        source = "marts.segment_campaign_funnel_at(?::timestamptz, ?)"
        parameters = [as_of, segment_table]
    found = _call(
        con,
        f"select {columns} from {source} where campaign_id = ?"
        " order by workflow_id, step_number",
        [*parameters, campaign_id],
    )
    if not found:
        known = campaign_ids(con, as_of)
        msg = (
            f"no campaign {campaign_id!r} with events known at {as_of.isoformat()};"
            f" campaigns: {', '.join(known) or 'none'}"
        )
        raise FunnelError(msg)
    names = [name.strip() for name in columns.split(",")]
    rows = [dict(zip(names, row, strict=True)) for row in found]
    logger.info("funnel of %s: %d steps at %s", campaign_id, len(rows), as_of)
    return suppress_funnel(rows)


def _call(
    con: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any]
) -> list[tuple]:
    try:
        return con.execute(sql, parameters).fetchall()
    except duckdb.CatalogException as error:
        if "campaign_funnel_at" not in str(error):
            raise
        msg = "the warehouse has no funnel functions yet: run `clearlist build`"
        raise FunnelError(msg) from None


def shown(value: Any) -> str:
    """A count as printed: the number, or `<11` when suppression hid it."""
    return HIDDEN_LABEL if value is None else str(value)


def plot_funnel(rows: Sequence[dict[str, Any]], title: str) -> Any:
    """A grouped bar chart of a suppressed funnel: one group per step.

    A hidden count draws no bar and is labelled `<11`, so the chart shows exactly
    what the table shows. The figure is built without pyplot, so it renders
    headless (PNG through matplotlib's Agg canvas) and opens no window.

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(CHART_STAGES)
    for offset, (stage, label) in enumerate(CHART_STAGES):
        positions = [
            i + (offset - (len(CHART_STAGES) - 1) / 2) * width for i in range(len(rows))
        ]
        heights = [row[stage] or 0 for row in rows]
        bars = axes.bar(positions, heights, width, label=label)
        axes.bar_label(
            bars,
            labels=[shown(row[stage]) for row in rows],
            fontsize=7,
            padding=2,
        )
    axes.set_xticks(
        range(len(rows)),
        labels=[f"{row['workflow_id']}\nstep {row['step_number']}" for row in rows],
        fontsize=8,
    )
    axes.set_ylabel("distinct people")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.supxlabel(
        "Counts of 1 to 10, and those that would reveal one, are hidden (<11).",
        fontsize=7,
    )
    return figure


def save_chart(
    rows: Sequence[dict[str, Any]], title: str, folder: Path, stem: str
) -> Path:
    """Write the funnel chart as a PNG under `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "funnel"
    path = folder / f"{safe}.png"
    plot_funnel(rows, title).savefig(path, dpi=110)
    logger.info("wrote funnel chart %s", path)
    return path
