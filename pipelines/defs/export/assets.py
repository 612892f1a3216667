"""The gate and the approved audience file of every segment.

For each segment model the dbt manifest declares, this module builds:
- a blocking asset check, `audience_gate`, on the segment: it re-derives every rule
  from the ledger for the rows about to be written and validates them with Great
  Expectations; a failure stops the run before the export;
- an asset, `exports/<segment>`, that writes the audience file and its manifest,
  only when the gate passed for exactly the rows it writes.
"""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines import env
from pipelines.defs.dbt.assets import segments
from pipelines.defs.resources import RunSettings, Warehouse
from pipelines.lib.export import ExportError, write_audience, write_blocked
from pipelines.lib.gate import (
    Communication,
    GateResult,
    allowed_export_columns,
    outbound_rows,
    run_gate,
)

GATE_CHECK_NAME = "audience_gate"


def segment_key(name: str) -> dg.AssetKey:
    """The asset key dbt's translator gives a segment model."""
    return segments()[name]["asset_key"]


def gate_result_path(run_id: str, segment: str) -> Path:
    """Where a run's gate result waits for the export step of the same run."""
    return env.home().exports / ".gate" / run_id / f"{segment}.json"


def _as_of(con: Any, relation: str, settings: RunSettings) -> datetime:
    requested = settings.as_of_instant()
    if requested is not None:
        return requested
    # A run launched without an instant judges at the one the segment was built at.
    row = con.sql(f"select max(segment_as_of) from {relation}").fetchone()
    if row is None or row[0] is None:
        msg = f"{relation} is empty and the run names no as_of instant"
        raise dg.Failure(msg)
    return row[0]


def _details(name: str, communication: Communication, settings: RunSettings) -> dict:
    return {
        "segment": name,
        "purpose": communication.purpose_code,
        "marketing_topic": communication.marketing_topic,
        "channel": communication.channel,
        "list_id": communication.list_id,
        "recipient": settings.recipient or communication.recipients[0],
    }


def build_segment_export(name: str, declared: dict[str, Any]) -> list[Any]:
    """Build the gate check and the export asset of one segment."""
    communication = Communication.from_meta(name, declared["segment"])
    relation = f"segments.{name}"
    key = segment_key(name)

    @dg.asset_check(
        asset=key,
        name=GATE_CHECK_NAME,
        blocking=True,
        description=(
            "Re-derives consent from the ledger for every outbound row and validates "
            "them with the audience.critical suite; any failure blocks the export."
        ),
    )
    def audience_gate(
        context: dg.AssetCheckExecutionContext,
        warehouse: Warehouse,
        settings: RunSettings,
    ) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            as_of = _as_of(con, relation, settings)
            result = run_gate(
                con,
                relation,
                communication,
                as_of,
                allowed_columns=allowed_export_columns(con, communication),
            )
        path = gate_result_path(context.run.run_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2))
        blocked_report = None
        if not result.passed:
            blocked_report = write_blocked(
                exports_dir=env.home().exports,
                gate=result,
                details=_details(name, communication, settings),
            )
        failed = {
            f"{failure['rule_id']}:{failure['column'] or failure['expectation']}": (
                failure["unexpected_count"]
            )
            for failure in result.failures
        }
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "row_count": result.row_count,
                "as_of": result.as_of,
                "failed_checks": dg.MetadataValue.json(failed),
                "blocked_report": str(blocked_report) if blocked_report else "",
            },
        )

    @dg.asset(
        key=dg.AssetKey(["exports", name]),
        deps=[key],
        group_name="exports",
        kinds={"csv"},
        description=f"The approved audience file of {name}, with its manifest.",
    )
    def audience_file(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: RunSettings,
    ) -> dg.MaterializeResult:
        path = gate_result_path(context.run_id, name)
        if not path.exists():
            msg = (
                f"no gate result for {name} in this run: the export does not run alone"
            )
            raise dg.Failure(msg)
        gate = GateResult(**json.loads(path.read_text()))
        with warehouse.connect() as con:
            rows = outbound_rows(con, relation, communication)
        try:
            exported = write_audience(
                rows,
                exports_dir=env.home().exports,
                gate=gate,
                details={
                    **_details(name, communication, settings),
                    "as_of": gate.as_of,
                },
            )
        except ExportError as error:
            raise dg.Failure(str(error)) from error
        context.log.info(
            "exported %d rows of %s as %s", gate.row_count, name, exported.export_id
        )
        return dg.MaterializeResult(
            metadata={
                "export_id": exported.export_id,
                "row_count": gate.row_count,
                "sha256": exported.manifest["sha256"],
                "path": dg.MetadataValue.path(str(exported.audience_path)),
                "as_of": gate.as_of,
            }
        )

    return [audience_gate, audience_file]


def segment_exports() -> tuple[list[Any], list[Any]]:
    """Build (checks, assets) for every segment in the dbt manifest."""
    checks, assets = [], []
    for name, declared in segments().items():
        check, asset = build_segment_export(name, declared)
        checks.append(check)
        assets.append(asset)
    return checks, assets
