"""The gate and the approved audience file of every segment.

For each segment model the dbt manifest declares, this module builds:
- a blocking asset check, `audience_gate`, on the segment: it re-derives every rule
  from the ledger for the rows about to be written and validates them with Great
  Expectations (Data Docs kept with the export); a failure stops the run before the
  export and leaves a `blocked.json`;
- an asset, `exports/<segment>`, that writes the audience file and its manifests,
  only when the gate passed for exactly the rows it writes.
"""

import contextlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines import env
from pipelines.defs.dbt.assets import TRANSLATOR, dbt_project, segments
from pipelines.defs.resources import RunSettings, Warehouse
from pipelines.lib import provenance
from pipelines.lib.audit.log import current_user, record_export
from pipelines.lib.export import ExportError, write_audience, write_blocked
from pipelines.lib.gate import (
    BuildStamp,
    Communication,
    GateResult,
    allowed_export_columns,
    outbound_rows,
    run_gate,
)
from pipelines.lib.rules import rule_set_version

GATE_CHECK_NAME = "audience_gate"


def segment_key(name: str) -> dg.AssetKey:
    """The asset key dbt's translator gives a segment model."""
    return segments()[name]["asset_key"]


def gate_result_path(run_id: str, segment: str) -> Path:
    """Where a run's gate result waits for the export step of the same run."""
    return env.home().exports / ".gate" / run_id / f"{segment}.json"


def gate_docs_path(run_id: str, segment: str) -> Path:
    """Where a run's Data Docs wait to be moved into the export folder."""
    return env.home().exports / ".gate" / run_id / f"{segment}-data-docs"


def discard_gate_result(run_id: str, segment: str) -> None:
    """Remove one segment's waiting gate result; the run's others stay."""
    gate_result_path(run_id, segment).unlink(missing_ok=True)
    shutil.rmtree(gate_docs_path(run_id, segment), ignore_errors=True)
    with contextlib.suppress(OSError):
        gate_result_path(run_id, segment).parent.rmdir()


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
        "operator": current_user(),
    }


def _path(name: str) -> tuple[dict[str, Any], list[str]]:
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return manifest, provenance.upstream(manifest, segments()[name]["unique_id"])


def _last_runs(
    instance: dg.DagsterInstance, manifest: dict[str, Any], path: list[str]
) -> dict[str, tuple[str, datetime]]:
    """For each model on the path, the run that last built it in this home, and when."""
    runs = {}
    for uid in path:
        node = manifest["nodes"].get(uid)
        if not node or node.get("resource_type") not in {"model", "seed"}:
            continue
        event = instance.get_latest_materialization_event(
            TRANSLATOR.get_asset_key(node)
        )
        if event is not None:
            runs[uid] = (event.run_id, datetime.fromtimestamp(event.timestamp, UTC))
    return runs


def _stamp(
    context: dg.AssetCheckExecutionContext, name: str, settings: RunSettings
) -> BuildStamp:
    manifest, path = _path(name)
    runs = _last_runs(context.instance, manifest, path)
    segment_uid = segments()[name]["unique_id"]
    built = runs.get(segment_uid)
    upstream_times = [when for uid, (_, when) in runs.items() if uid != segment_uid]
    return BuildStamp(
        built_at=built[1] if built else None,
        inputs_changed_at=max(upstream_times) if upstream_times else None,
        rule_set_version=rule_set_version(),
        expected_rows=settings.expected_rows if settings.expected_rows >= 0 else None,
    )


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
        stamp = _stamp(context, name, settings)
        docs = gate_docs_path(context.run.run_id, name)
        with warehouse.connect() as con:
            as_of = _as_of(con, relation, settings)
            result = run_gate(
                con,
                relation,
                communication,
                as_of,
                allowed_columns=allowed_export_columns(con, communication),
                recipient=settings.recipient or None,
                stamp=stamp,
                docs_dir=docs,
            )
        path = gate_result_path(context.run.run_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2))
        blocked_report = None
        if not result.passed:
            blocked_report = write_blocked(
                exports_dir=env.home().exports,
                gate=result,
                details={
                    **_details(name, communication, settings),
                    "as_of": result.as_of,
                },
                docs_dir=docs,
            )
            discard_gate_result(context.run.run_id, name)
            record_export(
                env.home().root,
                outcome="blocked",
                detail={
                    "segment": name,
                    "report": blocked_report.parent.name,
                    "failed_checks": len(result.failures),
                    "rows": result.row_count,
                },
            )
        failed = {
            f"{failure['rule_id']}:{failure['column'] or failure['expectation']}": (
                failure["unexpected_count"]
            )
            for failure in result.failures
        }
        context.log.info(
            "gate on %s: %s, %d rows, %d failed checks",
            relation,
            "passed" if result.passed else "blocked",
            result.row_count,
            len(result.failures),
        )
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
        description=f"The approved audience file of {name}, with its manifests.",
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
        manifest, upstream = _path(name)
        runs = _last_runs(context.instance, manifest, upstream)
        with warehouse.connect() as con:
            keyed = outbound_rows(con, relation, communication, with_person_key=True)
            batches = provenance.source_batches(
                con, provenance.raw_tables(manifest, upstream), datetime.now(UTC)
            )
        keys = [str(k) for k in keyed["_person_key"].to_pylist()]
        rows = keyed.drop_columns(["_person_key"])
        docs = gate_docs_path(context.run_id, name)
        try:
            exported = write_audience(
                rows,
                exports_dir=env.home().exports,
                gate=gate,
                details={
                    **_details(name, communication, settings),
                    "as_of": gate.as_of,
                    "recipients": gate.context.get("recipients"),
                    "effective_purpose": gate.context.get("effective_purpose"),
                    "rule_set_version": rule_set_version(),
                    "communication": communication.to_dict(),
                    "source_batches": batches,
                    "models": provenance.model_hashes(
                        manifest,
                        upstream,
                        {uid: run for uid, (run, _) in runs.items()},
                        env.DBT_PROJECT_DIR / "target",
                    ),
                    "run_id": context.run_id,
                },
                person_keys=keys,
                export_format=settings.export_format,
                docs_dir=docs,
            )
        except ExportError as error:
            raise dg.Failure(str(error)) from error
        finally:
            discard_gate_result(context.run_id, name)
        record_export(
            env.home().root,
            outcome="approved",
            detail={
                "export_id": exported.export_id,
                "segment": name,
                "recipient": exported.manifest.get("recipient"),
                "purpose": communication.purpose_code,
                "rows": gate.row_count,
                "sha256": exported.manifest["sha256"],
            },
        )
        context.log.info(
            "exported %d rows of %s as %s", gate.row_count, name, exported.export_id
        )
        return dg.MaterializeResult(
            metadata={
                "export_id": exported.export_id,
                "row_count": gate.row_count,
                "format": settings.export_format,
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
