"""`clearlist`: the command line face of the pipeline.

Every command that changes the warehouse materializes Dagster assets on the home's
Dagster instance, so `clearlist ui` shows each run the command line made. The command
line holds no compliance logic of its own.

Exit codes: 0 done; 1 failed, with a one-line reason; 2 usage error; 3 an export was
blocked by its gate; 4 refused, the user's role may not run the command; 5 `audit
verify` found the audit log tampered with (see pipelines/commands/audit.py).
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines import env
from pipelines.commands import audit as audit_commands

EXIT_FAILED = 1
EXIT_BLOCKED = 3

app = typer.Typer(
    cls=audit_commands.AuditedGroup,
    help="Consent-safe healthcare audiences: ingest, build, gate and export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_commands.app, name="audit")
# The real terminal: job output (dbt's log lines) is redirected to the home's logs.
console = Console(file=sys.__stdout__)
errors = Console(file=sys.__stderr__)


class CommandFailed(Exception):
    """A command that cannot finish; its message is the one-line reason."""


class ExportBlocked(Exception):
    """The gate blocked an export; the message summarises why."""


def fail(reason: str, code: int = EXIT_FAILED) -> None:
    """Print a one-line reason on stderr and exit."""
    errors.print(f"[bold red]error:[/] {reason}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def step(description: str, *, to_stderr: bool = False):
    """Show a spinner with elapsed time while a step runs.

    `to_stderr` keeps standard output clean for a command's `--json` answer.
    """
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors if to_stderr else console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=1)
        yield
        progress.update(task, completed=1, description=f"{description} [green]done")


def _run_job(
    job_name: str,
    run_config: dict[str, Any] | None = None,
    only_assets: list[Any] | None = None,
) -> Any:
    """Run a job in this process; `only_assets` runs those assets, without checks."""
    import dagster as dg

    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    if only_assets is not None:
        job = job.get_subset(
            asset_selection=set(only_assets), asset_check_selection=set()
        )
    instance = dg.DagsterInstance.get()
    # The full event log stays in the instance (see `clearlist ui`); the terminal
    # gets the progress spinner and a one-line reason.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    logs = env.home().root / "logs"
    logs.mkdir(exist_ok=True)
    with (
        (logs / f"{job_name}.log").open("a", encoding="utf-8") as log,
        redirect_stdout(log),
        redirect_stderr(log),
    ):
        return job.execute_in_process(
            instance=instance,
            run_config={**(run_config or {}), **quiet},
            raise_on_error=False,
        )


def _failure_reason(result: Any) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            # Dagster wraps the step's own exception; its innermost cause says why.
            while error is not None and error.cause is not None:
                error = error.cause
            message = error.message.strip() if error else "step failed"
            first_line = message.splitlines()[0] if message else "step failed"
            return f"{event.step_key}: {first_line}"
    return "the run failed"


def _settings_config(**values: str) -> dict[str, Any]:
    return {"resources": {"settings": {"config": values}}}


def ingest_landing() -> Any:
    """Run the ingestion job."""
    with step("ingesting new landing batches"):
        result = _run_job("ingest")
    if not result.success:
        raise CommandFailed(_failure_reason(result))
    return result


def build_warehouse(as_of: str) -> Any:
    """Run the dbt build job at an instant."""
    with step("building the warehouse with dbt"):
        result = _run_job("build", _settings_config(as_of=as_of))
    if not result.success:
        raise CommandFailed(_failure_reason(result))
    return result


def build_segment(segment: str, *, as_of: str, quiet: bool = False) -> Any:
    """Build one segment at `as_of` (its static check first); no gate, no export."""
    from pipelines.defs.export.assets import segment_key

    with step(f"building {segment}", to_stderr=quiet):
        result = _run_job(
            "segments",
            _settings_config(as_of=as_of),
            only_assets=[segment_key(segment)],
        )
    if not result.success:
        raise CommandFailed(_failure_reason(result))
    return result


def export_segment(
    segment: str,
    *,
    as_of: str,
    recipient: str,
    export_format: str = "csv",
    expected_rows: int | None = None,
) -> dict[str, Any]:
    """Build one segment at `as_of`, gate it and export it.

    Returns:
        The export's manifest.

    Raises:
        ExportBlocked: The gate blocked the export.
        CommandFailed: The run failed for another reason.
    """
    from pipelines.defs.dbt.assets import segments

    known = segments()
    if segment not in known:
        names = ", ".join(known) or "none"
        raise CommandFailed(f"no segment named {segment!r}; segments: {names}")
    with step(f"exporting {segment}"):
        settings = _settings_config(
            as_of=as_of, recipient=recipient, export_format=export_format
        )
        if expected_rows is not None:
            settings["resources"]["settings"]["config"]["expected_rows"] = expected_rows
        result = _run_job(f"export_{segment}", settings)
    outcome = _export_outcomes(result)
    if isinstance(outcome.get(segment), ExportBlocked):
        raise outcome[segment]
    if not result.success:
        raise CommandFailed(_failure_reason(result))
    if segment not in outcome:
        raise CommandFailed(f"{segment}: the run wrote no audience file")
    return outcome[segment]


def export_all_segments(as_of: str) -> dict[str, Any]:
    """Build every segment at `as_of` in one run, gate each, export those that pass.

    One dbt build and one static check serve every segment; a blocked gate stops
    only its own segment's export.

    Returns:
        By segment: its export manifest, or the ExportBlocked that stopped it.

    Raises:
        CommandFailed: The run failed other than by a gate.
    """
    with step("exporting every segment"):
        result = _run_job("export_all", _settings_config(as_of=as_of))
    outcome = _export_outcomes(result)
    blocked = any(isinstance(value, ExportBlocked) for value in outcome.values())
    if not result.success and not blocked:
        raise CommandFailed(_failure_reason(result))
    return outcome


def _export_outcomes(result: Any) -> dict[str, Any]:
    """Read a run's gate verdicts and export manifests, by segment."""
    outcome: dict[str, Any] = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        segment = evaluation.asset_key.path[-1]
        metadata = evaluation.metadata
        failed = metadata["failed_checks"].value
        report = metadata["blocked_report"].value
        summary = ", ".join(f"{rule} ({count} rows)" for rule, count in failed.items())
        outcome[segment] = ExportBlocked(
            f"{segment} blocked by the gate: {summary}; see {report}"
        )
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[0] == "exports":
            export_id = materialization.metadata["export_id"].value
            folder = env.home().exports / str(export_id)
            manifest = json.loads((folder / "manifest.json").read_text())
            outcome[materialization.asset_key.path[-1]] = manifest
    return outcome


def _resolve_as_of(as_of: str | None) -> str:
    from pipelines.lib.instants import parse_instant

    if not as_of:
        return datetime.now(UTC).isoformat()
    try:
        return parse_instant(as_of).isoformat()
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--as-of") from None


def _guard(action: Callable[[], None]) -> None:
    env.activate(env.home())
    try:
        action()
    except ExportBlocked as blocked:
        fail(str(blocked), EXIT_BLOCKED)
    except CommandFailed as failed:
        fail(str(failed))


@app.command()
def generate(
    contacts: Annotated[int, typer.Option(min=1, help="People to generate.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 7,
    anchor: Annotated[
        str | None, typer.Option(help="The generated world's today (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Write demo landing batches in every input format, with planted situations."""

    def action() -> None:
        from pipelines.lib.generate import default_anchor
        from pipelines.lib.generate import generate as generate_batches

        current = env.home()
        when = default_anchor()
        if anchor:
            try:
                when = datetime.combine(
                    date.fromisoformat(anchor), datetime.min.time(), UTC
                )
            except ValueError:
                raise typer.BadParameter(
                    f"expected YYYY-MM-DD, got {anchor!r}", param_hint="--anchor"
                ) from None
        with step(f"generating {contacts:,} contacts"):
            plan = generate_batches(
                current.landing, contacts=contacts, seed=seed, anchor=when
            )
        console.print(f"landing batches written under {current.landing}")
        console.print(f"planted situations: {current.generated / 'plan.json'}")
        del plan

    _guard(action)


@app.command()
def ingest() -> None:
    """Load every new landing batch into the warehouse's raw schema."""
    _guard(lambda: ingest_landing() and None)


@app.command()
def build(
    as_of: Annotated[
        str | None, typer.Option(help="Judge consent at this ISO 8601 instant.")
    ] = None,
) -> None:
    """Build and test the dbt models (staging, ledger, eligibility, marts)."""
    instant = _resolve_as_of(as_of)
    _guard(lambda: build_warehouse(instant) and None)


@app.command()
def export(
    segment: Annotated[str, typer.Argument(help="The segment model to export.")],
    as_of: Annotated[
        str | None, typer.Option(help="Judge consent at this ISO 8601 instant.")
    ] = None,
    recipient: Annotated[
        str, typer.Option(help="Who receives the file (default: the covered entity).")
    ] = "",
    export_format: Annotated[
        str, typer.Option("--format", help="The audience file: csv or parquet.")
    ] = "csv",
    expect_rows: Annotated[
        int | None,
        typer.Option(
            min=0, help="The included count the preview showed; any other blocks."
        ),
    ] = None,
) -> None:
    """Build a segment at an instant, gate it, and write the approved audience file."""
    instant = _resolve_as_of(as_of)
    if export_format not in ("csv", "parquet"):
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")

    def action() -> None:
        manifest = export_segment(
            segment,
            as_of=instant,
            recipient=recipient,
            export_format=export_format,
            expected_rows=expect_rows,
        )
        console.print(
            f"approved: {manifest['row_count']} rows, export {manifest['export_id']}, "
            f"sha256 {manifest['sha256'][:12]}"
        )
        console.print(str(env.home().exports / manifest["export_id"]))

    _guard(action)


@app.command()
def explain(
    purpose: Annotated[str, typer.Option(help="Purpose code, e.g. MARKETING.")],
    channel: Annotated[str, typer.Option(help="email, sms, phone or mail.")],
    person: Annotated[
        str | None, typer.Option(help="The person key (person_id).")
    ] = None,
    mrn: Annotated[
        str | None, typer.Option(help="An EHR medical record number.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="An email address on file.")] = None,
    recipient: Annotated[
        str, typer.Option(help="Who would receive the list.")
    ] = "CoveredEntity",
    topic: Annotated[
        str | None, typer.Option(help="The marketing topic of the message.")
    ] = None,
    list_id: Annotated[
        str | None, typer.Option("--list", help="The email list (unsubscribe group).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Judge consent at this ISO 8601 instant.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.")
    ] = False,
) -> None:
    """Explain whether one person may receive a communication, rule by rule."""
    from pipelines.lib.explain import ExplainError, find_person
    from pipelines.lib.explain import explain as explain_decision
    from pipelines.lib.instants import parse_instant
    from pipelines.lib.warehouse import connect

    named = [value for value in (person, mrn, email) if value is not None]
    if len(named) != 1:
        raise typer.BadParameter(
            "name exactly one of --person, --mrn and --email", param_hint="--person"
        )
    instant = parse_instant(_resolve_as_of(as_of))
    current = env.home()
    try:
        with connect(current.warehouse, read_only=True) as con:
            person_id = find_person(con, person=person, mrn=mrn, email=email)
            decision = explain_decision(
                con,
                person_id,
                purpose=purpose,
                channel=channel,
                as_of=instant,
                recipient=recipient,
                marketing_topic=topic,
                list_id=list_id,
            )
    except (ExplainError, FileNotFoundError) as problem:
        fail(str(problem))
    if as_json:
        console.print_json(json.dumps(decision.to_dict()))
        return
    verdict = "[green]eligible" if decision.eligible else "[red]not eligible"
    console.print(
        f"person {decision.person}: {verdict}[/] for {decision.evaluated_as} by"
        f" {decision.channel} to {decision.recipient} at {decision.as_of}"
        f" (rule set {decision.rule_set_version})",
        highlight=False,
    )
    if decision.evaluated_as != decision.purpose:
        console.print(
            f"purpose {decision.purpose} is not a known code: evaluated as MARKETING"
            " (RULES.md 1.6)"
        )
    shown: set[str] = set()
    for fired in decision.trail:
        console.print(f"[bold]{fired.rule_id}[/] {fired.summary} ({fired.citation})")
    for fired in decision.trail:
        if not fired.evidence or fired.records in shown:
            continue
        shown.add(fired.records)
        console.print(f"\n[bold]{fired.records}[/] on file")
        for record in fired.evidence:
            console.print(
                "  "
                + ", ".join(f"{k}={v}" for k, v in record.items() if v is not None),
                highlight=False,
            )


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(min=1, help="People to generate.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate demo data, ingest it, build the warehouse and export every segment."""

    def action() -> None:
        from pipelines.defs.dbt.assets import segments
        from pipelines.lib.generate import default_anchor
        from pipelines.lib.generate import generate as generate_batches

        current = env.home()
        if not any(current.landing.glob("*/*")):
            with step(f"generating {contacts:,} contacts"):
                generate_batches(
                    current.landing,
                    contacts=contacts,
                    seed=seed,
                    anchor=default_anchor(),
                )
        ingest_landing()
        instant = datetime.now(UTC).isoformat()
        build_warehouse(instant)
        outcomes = []
        exported = export_all_segments(instant)
        for name in segments():
            manifest = exported.get(name)
            if isinstance(manifest, dict):
                outcomes.append(
                    {
                        "segment": name,
                        "outcome": "approved",
                        "export_id": manifest["export_id"],
                        "rows": manifest["row_count"],
                        "folder": str(current.exports / manifest["export_id"]),
                    }
                )
            else:
                reason = str(manifest) if manifest else "the run exported nothing"
                outcomes.append(
                    {"segment": name, "outcome": "blocked", "reason": reason}
                )
        report = _write_demo_report(current, instant, outcomes)
        table = Table("segment", "outcome", "rows", "folder")
        for outcome in outcomes:
            table.add_row(
                outcome["segment"],
                outcome["outcome"],
                str(outcome.get("rows", "")),
                outcome.get("folder", outcome.get("reason", "")),
            )
        console.print(table)
        console.print(f"approved audience files: {current.exports}")
        console.print(f"report: {report}")
        if any(outcome["outcome"] == "blocked" for outcome in outcomes):
            raise ExportBlocked("at least one demo export was blocked; see the report")

    _guard(action)


def _write_demo_report(current: env.Home, as_of: str, outcomes: list[dict]) -> Path:
    from pipelines.lib.warehouse import connect

    with connect(current.warehouse, read_only=True) as con:
        by_rule = con.sql(
            """
            select purpose_code, channel, rule_id, count(*) as people
            from (
                select purpose_code, channel,
                       unnest(string_split(rules_fired, ';')) as rule_id
                from marts.eligibility
                where rules_fired != ''
            )
            group by all
            order by purpose_code, channel, rule_id
            """
        ).fetchall()
        eligible = con.sql(
            "select purpose_code, channel, count(*) filter (where is_eligible), "
            "count(*) from marts.eligibility group by all order by all"
        ).fetchall()
        quality = con.sql(
            "select check_id, rule_id, description, records"
            " from marts.report_consent_data_quality order by check_id"
        ).fetchall()
    report = {
        "as_of": as_of,
        "exports": outcomes,
        "eligibility": [
            {"purpose": p, "channel": c, "eligible": e, "people": n}
            for p, c, e, n in eligible
        ],
        "data_quality": [
            {"check": c, "rule_id": r, "description": d, "records": n}
            for c, r, d, n in quality
        ],
        "exclusions_by_rule": [
            {"purpose": p, "channel": c, "rule_id": r, "people": n}
            for p, c, r, n in by_rule
        ],
    }
    path = current.root / "reports" / "demo-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    return path


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Local port for the Dagster UI.")] = 3000,
) -> None:
    """Start the Dagster UI on this home's instance (runs made here show up)."""
    current = env.activate(env.home())
    # The Dagster and dbt of this environment, even when its bin folder is not on
    # PATH: `dagster dev` prepares the dbt project with the `dbt` it finds there.
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    }
    console.print(f"Dagster UI for {current.root}: http://127.0.0.1:{port}")
    command = [
        str(bin_dir / "dagster"),
        "dev",
        "-m",
        "pipelines.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    raise typer.Exit(subprocess.call(command, env=environment))


def _register_command_groups() -> None:
    from pipelines.commands import exports, funnel, segments

    app.add_typer(segments.app, name="segments")
    app.add_typer(exports.app, name="exports")
    app.command("funnel")(funnel.funnel)


_register_command_groups()

if __name__ == "__main__":
    app()
