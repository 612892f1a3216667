"""The dbt project as Dagster assets: the warehouse models, and the segments."""

import json
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipelines import env
from pipelines.defs.resources import RunSettings, Warehouse
from pipelines.lib import segments as segment_checks
from pipelines.lib.rules import rule_set_version
from pipelines.lib.segments import SEGMENT_TAG

PROJECT_FILE_SUFFIXES = frozenset({".sql", ".yml", ".yaml", ".csv", ".md"})


@cache
def dbt_project() -> DbtProject:
    """Build the dbt project object once; parse it when its manifest is stale.

    The manifest is stale when it is missing or older than any model, macro, seed or
    YAML file of the project, so a segment an analyst just added is always known.
    """
    project = DbtProject(
        project_dir=env.DBT_PROJECT_DIR,
        profiles_dir=env.DBT_PROJECT_DIR,
        target=env.dbt_target(),
    )
    if _manifest_is_stale(project.manifest_path, env.DBT_PROJECT_DIR):
        DbtCliResource(
            project_dir=project,
            target=env.dbt_target(),
            dbt_executable=dbt_executable(),
        ).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def dbt_executable() -> str:
    """The dbt of this environment, even when its bin folder is not on PATH."""
    executable = Path(sys.executable).with_name("dbt")
    return str(executable) if executable.exists() else "dbt"


def _manifest_is_stale(manifest: Path, project_dir: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    skipped = {
        project_dir / "target",
        project_dir / "logs",
        project_dir / "dbt_packages",
    }
    return any(
        path.stat().st_mtime > built
        for path in project_dir.rglob("*")
        if path.suffix in PROJECT_FILE_SUFFIXES
        and not any(parent in skipped for parent in path.parents)
    )


class ClearlistTranslator(DagsterDbtTranslator):
    """Raw sources map to the ingestion assets; models group by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """Key a source as `raw/<table>`, a model by its name."""
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Group a model by its folder under models/ (staging, marts, segments...)."""
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2:
            return fqn[1]
        return "rules" if dbt_resource_props["resource_type"] == "seed" else None


TRANSLATOR = ClearlistTranslator()


def dbt_vars(settings: RunSettings) -> str:
    """The `--vars` of one run: the instant, resolved once, and the rule set version."""
    as_of = settings.as_of_instant() or datetime.now(UTC)
    return json.dumps(
        {"as_of": as_of.isoformat(), "rule_set_version": rule_set_version()}
    )


@dbt_assets(
    manifest=dbt_project().manifest_path,
    dagster_dbt_translator=TRANSLATOR,
    exclude=f"tag:{SEGMENT_TAG}",
    name="warehouse_models",
)
def warehouse_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: RunSettings
) -> Iterator[Any]:
    """Staging, ledger, eligibility and engagement marts, built and tested by dbt."""
    yield from dbt.cli(
        ["build", "--vars", dbt_vars(settings)], context=context
    ).stream()


@dbt_assets(
    manifest=dbt_project().manifest_path,
    dagster_dbt_translator=TRANSLATOR,
    select=f"tag:{SEGMENT_TAG}",
    name="segment_models",
)
def segment_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    settings: RunSettings,
    warehouse: Warehouse,
) -> Iterator[Any]:
    """Segments: analysts' criteria, filtered by consent at the run's instant.

    The static check runs first: a segment that reads around the consent filter
    fails the run before anything is built.
    """
    run_vars = dbt_vars(settings)
    selected = {
        name
        for name, declared in segments().items()
        if declared["asset_key"] in context.selected_asset_keys
    }
    check_segments_statically(dbt, warehouse, run_vars, selected)
    yield from dbt.cli(["build", "--vars", run_vars], context=context).stream()


def check_segments_statically(
    dbt: DbtCliResource, warehouse: Warehouse, run_vars: str, selected: set[str]
) -> None:
    """Compile the segments and refuse the run if any breaks a static rule."""
    with tempfile.TemporaryDirectory(prefix="segment-check-") as folder:
        target = Path(folder)
        dbt.cli(
            [
                "compile",
                "--select",
                f"tag:{SEGMENT_TAG}",
                "--vars",
                run_vars,
                "--quiet",
            ],
            target_path=target,
        ).wait()
        manifest = segment_checks.load_manifest(target)
        compiled = segment_checks.compiled_sql(manifest, target)
    with warehouse.connect(read_only=True) as con:
        schema = segment_checks.warehouse_schema(con)
    violations = segment_checks.check_segments(
        manifest,
        compiled,
        segment_checks.RuleSeeds.read(env.DBT_PROJECT_DIR / "seeds"),
        schema,
        only=selected,
    )
    if violations:
        lines = "\n".join(f"- {violation}" for violation in violations)
        msg = f"the static segment check refused {len(violations)} thing(s):\n{lines}"
        raise dg.Failure(msg)


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for the project."""
    return DbtCliResource(
        project_dir=dbt_project(),
        target=env.dbt_target(),
        dbt_executable=dbt_executable(),
    )


@cache
def segments() -> dict[str, dict[str, Any]]:
    """Every segment model of the manifest with its declared `meta.segment` block."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    found = {}
    for node in segment_checks.segment_nodes(manifest):
        meta = node.get("config", {}).get("meta", {}) or node.get("meta", {})
        found[node["name"]] = {
            "segment": meta.get("segment", {}),
            "relation": node.get("relation_name"),
            "unique_id": node["unique_id"],
            "description": node.get("description", ""),
            "asset_key": TRANSLATOR.get_asset_key(node),
        }
    return dict(sorted(found.items()))
