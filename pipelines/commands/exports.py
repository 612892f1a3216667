"""`clearlist exports`: the exports of this home, and a recheck of the approved ones.

`exports list` shows every export folder with its outcome. `exports recheck` judges
each approved export again at its own `as_of` against the ledger as it now stands
(pipelines/lib/recheck.py): a revocation, opt-out or death received before an
export's `as_of` but loaded after it flags that export for incident review.

Exit codes, on top of the command line's own: 6 at least one export is flagged for
incident review (each flagged export is printed, and `--json` carries the details).
"""

import json
from typing import Annotated

import typer
from rich.table import Table

from pipelines import env

EXIT_FLAGGED = 6

app = typer.Typer(help="List past exports and recheck them.", no_args_is_help=True)


@app.command("list")
def list_exports(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """List the exports of this home: approved, blocked or incomplete."""
    from pipelines.cli import _guard, console
    from pipelines.lib.recheck import list_exports as find_exports

    def action() -> None:
        found = find_exports(env.home().exports)
        if as_json:
            console.print_json(json.dumps(found))
            return
        table = Table("export", "outcome", "segment", "recipient", "as of", "rows")
        for item in found:
            table.add_row(
                item["export_id"],
                item["outcome"],
                item.get("segment") or "",
                item.get("recipient") or "",
                item.get("as_of") or "",
                "" if item.get("rows") is None else str(item["rows"]),
            )
        console.print(table)

    _guard(action)


@app.command()
def recheck(
    export_id: Annotated[
        str | None, typer.Option("--export", help="Recheck only this export.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Judge approved exports again at their own as_of, on the ledger as it now is."""
    from pipelines.cli import CommandFailed, _guard, console, errors
    from pipelines.lib.recheck import INCIDENT, RecheckError, recheck_export
    from pipelines.lib.recheck import list_exports as find_exports
    from pipelines.lib.warehouse import connect

    flagged: list[str] = []

    def action() -> None:
        current = env.home()
        approved = [
            item["export_id"]
            for item in find_exports(current.exports)
            if item["outcome"] == "approved"
            and (export_id is None or item["export_id"] == export_id)
        ]
        if export_id is not None and not approved:
            raise CommandFailed(
                f"no approved export {export_id} under {current.exports}"
            )
        results = []
        try:
            with connect(current.warehouse, read_only=True) as con:
                for name in approved:
                    results.append(recheck_export(con, current.exports / name))
        except (RecheckError, FileNotFoundError) as error:
            raise CommandFailed(str(error)) from error
        flagged.extend(r["export_id"] for r in results if r["status"] == INCIDENT)
        report = {"rechecked": len(results), "flagged": flagged, "exports": results}
        if as_json:
            console.print_json(json.dumps(report))
        else:
            table = Table(
                "export", "segment", "as of", "rows", "status", "failed rules"
            )
            for item in results:
                table.add_row(
                    item["export_id"],
                    item["segment"] or "",
                    item["as_of"],
                    str(item["rows"]),
                    item["status"],
                    ", ".join(
                        f"{f['rule_id']} ({f['unexpected_count']})"
                        for f in item["failures"]
                    )
                    + ("" if item["file_intact"] else " file altered"),
                )
            console.print(table)
        for name in flagged:
            errors.print(
                f"[bold red]incident review:[/] export {name} would be blocked today"
                " at its own as_of; see `clearlist exports recheck --export"
                f" {name} --json`",
                highlight=False,
            )

    _guard(action)
    if flagged:
        raise typer.Exit(EXIT_FLAGGED)
