"""`clearlist segments`: what segments exist, and who each would reach.

Every count printed here leaves the warehouse, so it passes through the small-cell
suppression of R-AGG first (`pipelines.lib.suppression`), in tables and in JSON.
"""

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines import env

app = typer.Typer(help="List and preview segments.", no_args_is_help=True)


def _declared() -> dict[str, Any]:
    from pipelines.defs.dbt.assets import dbt_project
    from pipelines.lib.segments import SegmentError, load_manifest, read_segments

    project = dbt_project()
    try:
        return read_segments(load_manifest(project.manifest_path.parent))
    except SegmentError as error:
        from pipelines.cli import CommandFailed

        raise CommandFailed(str(error)) from error


def decision_counts(con: Any, relation: str) -> dict[str, Any]:
    """Count a built segment's decisions: chosen, included, excluded, by rule.

    A person excluded by several rules counts once under each of them.
    """
    chosen, included, as_of = con.sql(
        f"""
        select
            count(*),
            count(*) filter (where is_included),
            max(segment_as_of)
        from {relation}
        """
    ).fetchone()
    by_rule = con.sql(
        f"""
        with fired as (
            select person_id, unnest(string_split(rules_fired, ';')) as rule_id
            from {relation}
            where not is_included
        )
        select rule_id, count(distinct person_id)
        from fired
        where rule_id <> ''
        group by rule_id
        order by rule_id
        """
    ).fetchall()
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "chosen": chosen,
        "included": included,
        "excluded": chosen - included,
        "excluded_by_rule": dict(by_rule),
    }


def suppressed_preview(counts: dict[str, Any]) -> dict[str, Any]:
    """Apply R-AGG to a preview: chosen = included + excluded; rules overlap."""
    from pipelines.lib.suppression import suppress_preview

    return suppress_preview(counts)


def _built(relation: str) -> dict[str, Any] | None:
    from pipelines.lib.warehouse import connect

    warehouse = env.home().warehouse
    if not warehouse.exists():
        return None
    with connect(warehouse, read_only=True) as con:
        schema, _, table = relation.replace('"', "").rpartition(".")
        exists = con.sql(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            params=[schema.rpartition(".")[2], table],
        ).fetchone()[0]
        if not exists:
            return None
        return decision_counts(con, relation)


def _show(value: Any) -> str:
    return "<11" if value is None else str(value)


@app.command("list")
def list_segments(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """List the segments the project declares, with their last built size."""
    from pipelines.cli import _guard, console

    def action() -> None:
        rows = []
        for name, segment in _declared().items():
            built = _built(segment.relation)
            preview = suppressed_preview(built) if built else None
            rows.append(
                {
                    "segment": name,
                    "purpose": segment.purpose_code,
                    "channel": segment.channel,
                    "marketing_topic": segment.marketing_topic,
                    "recipients": list(segment.recipients),
                    "owner": segment.owner,
                    "description": segment.description,
                    "built_as_of": preview["as_of"] if preview else None,
                    "included": preview["included"] if preview else None,
                }
            )
        if as_json:
            console.print_json(json.dumps(rows))
            return
        table = Table("segment", "purpose", "channel", "owner", "built as of", "size")
        for row in rows:
            table.add_row(
                row["segment"],
                row["purpose"],
                row["channel"],
                row["owner"] or "",
                row["built_as_of"] or "not built",
                _show(row["included"]) if row["built_as_of"] else "",
            )
        console.print(table)

    _guard(action)


@app.command()
def preview(
    name: Annotated[str, typer.Argument(help="The segment's model name.")],
    as_of: Annotated[
        str | None, typer.Option(help="ISO 8601 instant, with Z or an offset.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Build a segment at an instant and count who it would reach; export nothing."""
    from pipelines.cli import (
        CommandFailed,
        _guard,
        _resolve_as_of,
        build_segment,
        console,
    )

    instant = _resolve_as_of(as_of)

    def action() -> None:
        declared = _declared()
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise CommandFailed(f"no segment named {name!r}; segments: {known}")
        build_segment(name, as_of=instant, quiet=as_json)
        built = _built(declared[name].relation)
        if built is None:
            raise CommandFailed(f"{name} was not built")
        shown = {"segment": name, **suppressed_preview(built)}
        if as_json:
            console.print_json(json.dumps(shown))
            return
        table = Table("", "people", title=f"{name} as of {shown['as_of']}")
        for label in ("chosen", "included", "excluded"):
            table.add_row(f"[bold]{label}", _show(shown[label]))
        for rule_id, count in shown["excluded_by_rule"].items():
            table.add_row(f"  excluded by {rule_id}", _show(count))
        console.print(table)
        console.print("Counts of 1 to 10, and those that would reveal one, show <11.")

    _guard(action)
