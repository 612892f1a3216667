"""`clearlist funnel CAMPAIGN`: a campaign's engagement funnel, suppressed.

The counts come from the warehouse's funnel functions (read-only), and every one
of them, in the table, the JSON and the chart, has passed the small-cell
suppression of R-AGG (`pipelines.lib.suppression`).
"""

import json
from typing import Annotated

import typer
from rich.table import Table

from pipelines import env

_COUNT_ROWS = (
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("opened", "opened by a person"),
    ("machine_opened_only", "machine open only"),
    ("opened_any", "opened either way"),
    ("clicked", "clicked"),
    ("converted", "converted"),
)
_RATE_ROWS = (
    ("delivery_drop_off", "drop-off to delivered"),
    ("open_drop_off", "drop-off to opened"),
    ("click_drop_off", "drop-off to clicked"),
    ("conversion_drop_off", "drop-off to converted"),
    ("step_drop_off", "drop-off from previous step"),
)


def _step_label(row: dict) -> str:
    return f"{row['workflow_id'] or ''}\nstep {row['step_number']}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def funnel(
    campaign: Annotated[str, typer.Argument(help="The campaign id, e.g. cmp-x.")],
    as_of: Annotated[
        str | None,
        typer.Option(help="ISO 8601 instant, with Z or an offset; default now."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(help="Count only the people this built segment included."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Print a campaign's funnel by workflow and step, and write its chart (PNG)."""
    from pipelines.cli import CommandFailed, _guard, _resolve_as_of, console

    instant = _resolve_as_of(as_of)

    def action() -> None:
        from pipelines.lib.funnel import FunnelError, funnel_report, save_chart, shown
        from pipelines.lib.instants import parse_instant
        from pipelines.lib.warehouse import connect

        current = env.home()
        when = parse_instant(instant)
        table_name = _segment_table(segment) if segment else None
        if not current.warehouse.exists():
            raise CommandFailed("no warehouse yet: run `clearlist build` first")
        try:
            with connect(current.warehouse, read_only=True) as con:
                rows = funnel_report(con, campaign, when, segment_table=table_name)
        except FunnelError as error:
            raise CommandFailed(str(error)) from None
        scope = f" sent to {segment}" if segment else ""
        title = f"{campaign}{scope} as of {when.isoformat()}"
        stamp = when.strftime("%Y%m%dT%H%M%SZ")
        chart = save_chart(
            rows,
            title,
            current.root / "reports",
            f"funnel_{campaign}{'_' + segment if segment else ''}_{stamp}",
        )
        if as_json:
            report = {
                "campaign_id": campaign,
                "segment": segment,
                "as_of": when.isoformat(),
                "steps": rows,
                "chart": str(chart),
            }
            console.print_json(json.dumps(report))
            return
        table = Table("", *(_step_label(row) for row in rows), title=title)
        table.columns[0].no_wrap = True
        for key, label in _COUNT_ROWS:
            table.add_row(label, *(shown(row[key]) for row in rows))
        for key, label in _RATE_ROWS:
            table.add_row(label, *(_percent(row[key]) for row in rows))
        table.add_row(
            "median hours to open",
            *(_hours(row["median_hours_to_open"]) for row in rows),
        )
        console.print(table)
        console.print(
            "Distinct people per stage; opened excludes machine opens (Apple Mail"
            " Privacy Protection and other proxies). Counts of 1 to 10, and those"
            " that would reveal one, show <11."
        )
        console.print(f"chart: {chart}", highlight=False, soft_wrap=True)

    _guard(action)


def _segment_table(name: str) -> str:
    """The ``schema.table`` of a declared segment, from the dbt manifest."""
    from pipelines.cli import CommandFailed
    from pipelines.defs.dbt.assets import dbt_project
    from pipelines.lib.segments import SegmentError, load_manifest, read_segments

    try:
        declared = read_segments(load_manifest(dbt_project().manifest_path.parent))
    except SegmentError as error:
        raise CommandFailed(str(error)) from error
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise CommandFailed(f"no segment named {name!r}; segments: {known}")
    parts = declared[name].relation.replace('"', "").split(".")
    return ".".join(parts[-2:])
