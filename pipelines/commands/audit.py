"""`clearlist audit`: the audit log, lineage of an export, and disclosures of a person.

This module also carries `AuditedGroup`, the command group every `clearlist` command
runs through: it checks the user's role before the command runs and appends one
hash-chained entry to the home's audit log when it ends, refused commands included.

Exit codes, on top of the command line's own (0 done, 1 failed, 2 usage error,
3 blocked by the gate): 4 refused, the user's role may not run the command (or the
roles file is unreadable); 5 `audit verify` found the log edited, reordered or cut.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer import _click
from typer.core import TyperGroup

from pipelines import env

EXIT_REFUSED = 4
EXIT_TAMPERED = 5
OUTCOMES = {0: "ok", 1: "failed", 2: "usage-error", 3: "blocked", 4: "refused"}

console = Console(file=sys.__stdout__)
errors = Console(file=sys.__stderr__)

app = typer.Typer(
    help="Audit: verify the log, trace an export's lineage, account for disclosures.",
    no_args_is_help=True,
)


def _requested(group: TyperGroup, ctx: Any) -> tuple[str | None, list[str]]:
    """The command path a group is about to run ("exports list") and its arguments.

    Returns (None, []) when click is about to print help or a usage error.
    """
    args = [*ctx._protected_args, *ctx.args]
    if not args or "--help" in args:
        return None, []
    command = group.get_command(ctx, args[0])
    if command is None:
        return None, []
    path, rest = [args[0]], args[1:]
    if isinstance(command, TyperGroup):
        names = [index for index, arg in enumerate(rest) if not arg.startswith("-")]
        if not names or command.get_command(ctx, rest[names[0]]) is None:
            return None, []
        path.append(rest[names[0]])
        rest = rest[: names[0]] + rest[names[0] + 1 :]
    return " ".join(path), rest


class AuditedGroup(TyperGroup):
    """The `clearlist` group: role check before, audit log entry after, every time."""

    def invoke(self, ctx: Any) -> Any:
        """Refuse what the user's role may not run; log every command's outcome."""
        from pipelines.lib.audit.log import AuditLogError, append
        from pipelines.lib.audit.roles import RolesError, grant_for

        command, arguments = _requested(self, ctx)
        if command is None:
            return super().invoke(ctx)
        root = env.home().root
        try:
            grant = grant_for(root)
        except RolesError as error:
            append(
                root,
                action=command,
                arguments=arguments,
                outcome="refused",
                exit_code=EXIT_REFUSED,
                detail={"reason": str(error)},
            )
            errors.print(f"[bold red]refused:[/] {error}", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None
        if not grant.may_run(command):
            roles = ", ".join(grant.roles) or "no role"
            reason = f"{grant.user} ({roles}) may not run `clearlist {command}`"
            append(
                root,
                action=command,
                arguments=arguments,
                roles=list(grant.roles),
                user=grant.user,
                outcome="refused",
                exit_code=EXIT_REFUSED,
                detail={"reason": reason, "roles_file": grant.source},
            )
            errors.print(f"[bold red]refused:[/] {reason}", highlight=False)
            raise typer.Exit(EXIT_REFUSED)
        code = 1
        try:
            result = super().invoke(ctx)
            code = 0
            return result
        except typer.Exit as exit_:
            code = exit_.exit_code
            raise
        except _click.exceptions.ClickException as error:
            code = error.exit_code
            raise
        finally:
            try:
                append(
                    root,
                    action=command,
                    arguments=arguments,
                    roles=list(grant.roles),
                    user=grant.user,
                    outcome=OUTCOMES.get(code, "failed"),
                    exit_code=code,
                )
            except AuditLogError as error:
                errors.print(f"[bold red]audit log:[/] {error}", highlight=False)
                raise typer.Exit(1) from None


@app.command()
def verify(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """Check the hash chain of the audit log; exit 5 naming the first bad line."""
    from pipelines.lib.audit.log import log_path
    from pipelines.lib.audit.log import verify as verify_log

    root = env.home().root
    result = verify_log(root)
    if as_json:
        console.print_json(json.dumps({"log": str(log_path(root)), **result.to_dict()}))
    elif result.intact:
        console.print(
            f"audit log intact: {result.entries} entries, last hash"
            f" {result.last_hash[:12]}",
            highlight=False,
        )
    else:
        errors.print(
            f"[bold red]audit log broken at line {result.first_bad_line}:[/]"
            f" {result.reason} ({log_path(root)})",
            highlight=False,
        )
    if not result.intact:
        raise typer.Exit(EXIT_TAMPERED)


@app.command()
def lineage(
    export_id: Annotated[str, typer.Argument(help="The export id (folder name).")],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the report (default: the home's).")
    ] = None,
) -> None:
    """Write an HTML report and an OpenLineage JSON file tracing an export."""
    from pipelines.lib.audit.lineage import LineageError, build_lineage, write_reports

    current = env.activate(env.home())
    try:
        report = build_lineage(current, export_id)
    except LineageError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    folder = out or current.root / "audit" / "lineage" / export_id
    html_path, json_path = write_reports(report, folder)
    figures = report["figures"]
    console.print(
        f"export {export_id}: {figures['source_batches']} source batches,"
        f" {figures['models']} models, {figures['columns']} columns traced;"
        f" file {'intact' if report['export']['file_intact'] else 'CHANGED'}",
        highlight=False,
    )
    console.print(str(html_path))
    console.print(str(json_path))


@app.command()
def disclosures(
    person: Annotated[
        str | None, typer.Option(help="The person key (person_id).")
    ] = None,
    mrn: Annotated[
        str | None, typer.Option(help="An EHR medical record number.")
    ] = None,
    years: Annotated[int, typer.Option(min=1, help="How far back to look.")] = 6,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """Every export that included a person; whether 45 CFR 164.528 accounts for it."""
    from pipelines.lib.audit.disclosures import DisclosureError, disclosures_of

    if (person is None) == (mrn is None):
        raise typer.BadParameter(
            "name exactly one of --person and --mrn", param_hint="--person"
        )
    try:
        report = disclosures_of(env.home(), person=person, mrn=mrn, years=years)
    except (DisclosureError, FileNotFoundError) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    console.print(
        f"person {report['person']}: {len(report['disclosures'])} exports since"
        f" {report['since'][:10]}, {report['accountable']} accountable under"
        " 45 CFR 164.528",
        highlight=False,
    )
    for item in report["disclosures"]:
        accountable = "accountable" if item["accountable"] else "not accountable"
        console.print(
            f"\n[bold]{item['exported_at'][:19]}[/] export {item['export_id']}"
            f" ({item['membership']}): {accountable} under 164.528",
            highlight=False,
        )
        console.print(
            f"  to {item['recipient']} ({item['recipient_kind']}) for"
            f" {item['purpose']} by {item['channel']}; basis {item['basis']}"
            f" ({item['citation']})",
            highlight=False,
        )
        console.print(
            f"  data elements: {', '.join(item['data_elements'])}; authorizations:"
            f" {', '.join(item['authorizations']) or 'none'}",
            highlight=False,
        )


@app.command("log")
def show_log(
    last: Annotated[int, typer.Option(min=1, help="How many entries to show.")] = 20,
) -> None:
    """Show the newest audit log entries (user, roles, action, outcome)."""
    from pipelines.lib.audit.log import read_entries

    table = Table("#", "at", "user", "roles", "action", "outcome", "exit")
    for entry in read_entries(env.home().root)[-last:]:
        table.add_row(
            str(entry["seq"]),
            entry["at"][:19],
            entry["user"],
            ",".join(entry["roles"]),
            entry["action"],
            entry["outcome"],
            "" if entry["exit_code"] is None else str(entry["exit_code"]),
        )
    console.print(table)
