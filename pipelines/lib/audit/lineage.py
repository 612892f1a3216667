"""Where an exported file came from: source batches, raw tables, dbt models, gate.

`build_lineage` reads an export's manifest from disk, compiles the dbt models on the
segment's path at the export's instant (dbt's manifest gives each model's compiled
SQL, whose SHA-256 the report shows), reads the batches behind the raw tables from the
load log, and traces every exported column back to raw source fields with sqlglot's
column lineage over the compiled SQL. The result is one JSON-ready dict: a summary for
people and OpenLineage run events (https://openlineage.io/spec) for tools.

An edge is DIRECT when the source value flows into the column (possibly transformed)
and INDIRECT when it only decides which value or whether a value is shown (a CASE
condition, a FILTER clause, a window's partition). Row filters (where, join) are not
column lineage: they are the segment's criteria and the consent rules, which the gate
results section covers.

Manifest fields read: export_id, segment, purpose, channel, recipient, as_of,
exported_at, columns, row_count, file, sha256, gate; and, when recorded,
rule_set_version, source_batches and the compiled SQL hashes of the models. A missing
field shows as "not recorded" instead of failing the report.
"""

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from pipelines import env
from pipelines.lib.warehouse import connect

logger = logging.getLogger(__name__)

NOT_RECORDED = "not recorded"
NAMESPACE = "clearlist"
PRODUCER = "https://github.com/clearlist/clearlist/pipelines/lib/audit"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
EXPORT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LineageError(RuntimeError):
    """The lineage of an export cannot be built."""


def read_manifest(exports_dir: Path, export_id: str) -> dict[str, Any]:
    """Read an export's manifest.json.

    Raises:
        LineageError: The id is malformed, unknown, or names a blocked export.
    """
    if not EXPORT_ID.match(export_id):
        msg = f"{export_id!r} is not an export id (letters, digits, - and _ only)"
        raise LineageError(msg)
    folder = exports_dir / export_id
    if (folder / "blocked.json").exists():
        msg = f"export {export_id} was blocked by its gate: no file was written"
        raise LineageError(msg)
    path = folder / "manifest.json"
    if not path.exists():
        msg = f"no export {export_id} under {exports_dir}"
        raise LineageError(msg)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        msg = f"the manifest of export {export_id} is not valid JSON: {error}"
        raise LineageError(msg) from None


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file, or None when it is missing."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def compile_models(
    current: env.Home, segment: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Compile the segment and every model upstream of it; return dbt's manifest.

    Raises:
        LineageError: dbt could not compile the project.
    """
    target = current.root / "audit" / ".dbt-target"
    dbt = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt) if dbt.exists() else "dbt",
        "compile",
        "--select",
        f"+{segment}",
        "--project-dir",
        str(env.DBT_PROJECT_DIR),
        "--profiles-dir",
        str(env.DBT_PROJECT_DIR),
        "--target",
        env.dbt_target(),
        "--target-path",
        str(target),
        "--vars",
        json.dumps(variables),
        "--no-introspect",
        "--quiet",
    ]
    environment = {**os.environ, "CLEARLIST_WAREHOUSE": str(current.warehouse)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment, check=False
    )
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        reason = lines[-1] if lines else f"exit {done.returncode}"
        msg = f"dbt could not compile {segment} for its lineage: {reason}"
        raise LineageError(msg)
    return json.loads((target / "manifest.json").read_text())


def _unquote(relation: str | None) -> str:
    return (relation or "").replace('"', "").replace("`", "").lower()


def _upstream(manifest: dict[str, Any], start: str) -> list[str]:
    """Every node and source the `start` node depends on, itself included."""
    seen: list[str] = []
    pending = [start]
    while pending:
        unique_id = pending.pop()
        if unique_id in seen:
            continue
        seen.append(unique_id)
        node = manifest["nodes"].get(unique_id)
        if node is not None:
            pending.extend(node.get("depends_on", {}).get("nodes", []))
    return seen


def _resource(manifest: dict[str, Any], unique_id: str) -> dict[str, Any]:
    return manifest["nodes"].get(unique_id) or manifest["sources"][unique_id]


def _dataset_name(resource: dict[str, Any]) -> str:
    """`schema.table` of a model, seed or source, as DuckDB knows it."""
    relation = _unquote(resource.get("relation_name"))
    return ".".join(relation.split(".")[-2:]) if relation else resource["name"]


def _condition_of(column: exp.Column, root: exp.Expression) -> bool:
    """True when the column only decides (CASE WHEN, FILTER, PARTITION BY)."""
    node: exp.Expression | None = column
    while node is not None and node is not root:
        parent = node.parent
        key = node.arg_key
        if isinstance(parent, exp.If) and key == "this":
            return True
        if isinstance(parent, exp.Case) and key == "this":
            return True
        if isinstance(parent, exp.Filter) and key == "expression":
            return True
        if isinstance(parent, exp.Window) and key in {"partition_by", "order"}:
            return True
        node = parent
    return False


def _edge_kinds(node: Node) -> dict[tuple[str, str], bool]:
    """Map (table alias, column) in a lineage node's expression to is-direct."""
    kinds: dict[tuple[str, str], bool] = {}
    for column in node.expression.find_all(exp.Column):
        key = (column.table.lower(), column.name.lower())
        direct = not _condition_of(column, node.expression)
        kinds[key] = kinds.get(key, False) or direct
    return kinds


@dataclass
class ColumnTracer:
    """Trace model columns to source fields across compiled dbt models."""

    manifest: dict[str, Any]
    schema: dict[str, Any]
    by_relation: dict[str, str] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    unresolved: list[dict[str, Any]] = field(default_factory=list)
    scopes: dict[str, tuple[exp.Expression, Scope]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Index every model, seed and source by its relation name."""
        for unique_id, resource in [
            *self.manifest["nodes"].items(),
            *self.manifest["sources"].items(),
        ]:
            relation = _unquote(resource.get("relation_name"))
            if relation:
                self.by_relation[relation] = unique_id

    def model_edges(self, unique_id: str, column: str) -> list[dict[str, Any]]:
        """The upstream relations' columns that one model column reads."""
        key = (unique_id, column.lower())
        if key in self.edges:
            return self.edges[key]
        node = self.manifest["nodes"][unique_id]
        found: dict[tuple[str, str], bool] = {}
        try:
            expression, scope = self._scope(unique_id)
            root = lineage(
                column,
                expression,
                self.schema,
                dialect="duckdb",
                scope=scope,
                copy=False,
                trim_selects=False,
            )
        except (sqlglot.errors.SqlglotError, ValueError) as error:
            # Traced as far as sqlglot could: the report names the model and why.
            logger.warning("no column lineage for %s.%s: %s", unique_id, column, error)
            self.unresolved.append(
                {"model": node["name"], "column": column, "reason": str(error)[:200]}
            )
            self.edges[key] = []
            return []
        self._walk(root, True, found)
        self.edges[key] = [
            {"from": source, "field": name, "direct": direct}
            for (source, name), direct in sorted(found.items())
        ]
        return self.edges[key]

    def _walk(
        self, node: Node, direct: bool, found: dict[tuple[str, str], bool]
    ) -> None:
        if not node.downstream:
            if isinstance(node.source, exp.Table):
                relation = _unquote(node.source.sql(dialect="duckdb").split(" AS ")[0])
                unique_id = self.by_relation.get(relation)
                if unique_id is not None:
                    name = node.name.split(".")[-1].lower()
                    key = (unique_id, name)
                    found[key] = found.get(key, False) or direct
            return
        kinds = _edge_kinds(node)
        for child in node.downstream:
            table, _, name = child.name.rpartition(".")
            child_direct = kinds.get((table.lower(), name.lower()), True)
            self._walk(child, direct and child_direct, found)

    def _scope(self, unique_id: str) -> tuple[exp.Expression, Scope]:
        """Parse and qualify a model's compiled SQL once for all its columns."""
        if unique_id not in self.scopes:
            expression = qualify(
                sqlglot.parse_one(
                    self.manifest["nodes"][unique_id]["compiled_code"], dialect="duckdb"
                ),
                schema=self.schema,
                dialect="duckdb",
                validate_qualify_columns=False,
                identify=False,
            )
            scope = build_scope(expression)
            if scope is None:
                msg = f"{unique_id} has no select to trace"
                raise ValueError(msg)
            self.scopes[unique_id] = (expression, scope)
        return self.scopes[unique_id]

    def to_sources(self, unique_id: str, column: str) -> dict[tuple[str, str], bool]:
        """Every source or seed field behind a model column, with is-direct."""
        result: dict[tuple[str, str], bool] = {}
        pending = [(unique_id, column.lower(), True)]
        visited: set[tuple[str, str, bool]] = set()
        while pending:
            current, name, direct = pending.pop()
            if (current, name, direct) in visited:
                continue
            visited.add((current, name, direct))
            for edge in self.model_edges(current, name):
                upstream = edge["from"]
                edge_direct = direct and edge["direct"]
                if upstream.startswith("model."):
                    pending.append((upstream, edge["field"], edge_direct))
                else:
                    key = (upstream, edge["field"])
                    result[key] = result.get(key, False) or edge_direct
        return result


def warehouse_schema(con: Any) -> dict[str, Any]:
    """Every relation's columns, as sqlglot's lineage wants them."""
    schema: dict[str, Any] = {}
    for catalog, schema_name, table, column, data_type in con.sql(
        "select table_catalog, table_schema, table_name, column_name, data_type"
        " from information_schema.columns"
    ).fetchall():
        tables = schema.setdefault(catalog, {}).setdefault(schema_name, {})
        tables.setdefault(table, {})[column] = data_type
    return schema


def compiled_schema(
    dbt_manifest: dict[str, Any], path: list[str], warehouse: dict[str, Any]
) -> dict[str, Any]:
    """The output columns of every model on the path, as its compiled SQL says.

    The warehouse may have been built from older code than the one compiled now, so
    each model's columns come from its compiled SQL, in dependency order, over the raw
    and seed columns the warehouse holds; a model sqlglot cannot read keeps the
    warehouse's columns.
    """
    schema = json.loads(json.dumps(warehouse))
    pending = [uid for uid in path if uid.startswith("model.")]
    done: set[str] = set()
    while pending:
        ready = [
            uid
            for uid in pending
            if all(
                dep in done or not dep.startswith("model.") or dep not in pending
                for dep in dbt_manifest["nodes"][uid]["depends_on"]["nodes"]
            )
        ] or pending[:1]
        for uid in ready:
            pending.remove(uid)
            done.add(uid)
            node = dbt_manifest["nodes"][uid]
            parts = _unquote(node.get("relation_name")).split(".")
            if len(parts) != 3 or not node.get("compiled_code"):
                continue
            try:
                parsed = qualify(
                    sqlglot.parse_one(node["compiled_code"], dialect="duckdb"),
                    schema=schema,
                    dialect="duckdb",
                    validate_qualify_columns=False,
                )
            except (sqlglot.errors.SqlglotError, ValueError) as error:
                logger.debug("kept warehouse columns of %s: %s", uid, error)
                continue
            known = schema.get(parts[0], {}).get(parts[1], {}).get(parts[2], {})
            columns = {name: known.get(name, "TEXT") for name in parsed.named_selects}
            schema.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = columns
    return schema


def _recorded(manifest: dict[str, Any], *names: str) -> Any:
    for name in names:
        if manifest.get(name) not in (None, "", [], {}):
            return manifest[name]
    return None


def _recorded_model_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    """Model name -> compiled SQL SHA-256, in whichever shape the manifest has it."""
    recorded = _recorded(
        manifest, "models", "compiled_sql_sha256", "model_hashes", "compiled_models"
    )
    hashes: dict[str, str] = {}
    if isinstance(recorded, dict):
        for name, value in recorded.items():
            digest = value if isinstance(value, str) else _first_hash(value)
            if digest:
                hashes[name.split(".")[-1]] = digest
    elif isinstance(recorded, list):
        for item in recorded:
            if isinstance(item, dict):
                name = item.get("name") or item.get("unique_id") or item.get("model")
                digest = _first_hash(item)
                if name and digest:
                    hashes[str(name).split(".")[-1]] = digest
    return hashes


def _first_hash(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for key in ("compiled_sql_sha256", "compiled_sha256", "sha256", "hash"):
        if isinstance(value.get(key), str):
            return value[key]
    return None


def _batches(
    con: Any, manifest: dict[str, Any], raw_tables: list[str]
) -> tuple[list[dict[str, Any]], str]:
    recorded = _recorded(manifest, "source_batches", "batches")
    if isinstance(recorded, list) and recorded:
        batches = []
        for item in recorded:
            batches.append(
                {
                    "batch_id": item.get("batch_id", NOT_RECORDED),
                    "file": item.get("file")
                    or f"{item.get('batch_id', '')}/{item.get('source_file', '')}",
                    "entity": item.get("entity", NOT_RECORDED),
                    "sha256": item.get("sha256", NOT_RECORDED),
                    "received_at": str(item.get("received_at", NOT_RECORDED)),
                    "loaded_at": str(item.get("loaded_at", NOT_RECORDED)),
                    "rows_loaded": item.get("rows_loaded"),
                }
            )
        return batches, "the export manifest"
    exported_at = manifest.get("exported_at") or datetime.now(UTC).isoformat()
    rows = con.execute(
        """
        select batch_id, source_file, entity, sha256, received_at, loaded_at,
               rows_loaded
        from raw.load_log
        where entity in (select unnest(?::varchar[])) and loaded_at <= ?::timestamptz
        order by received_at, batch_id, source_file
        """,
        [raw_tables, exported_at],
    ).fetchall()
    names = ("batch_id", "source_file", "entity", "sha256", "received_at")
    batches = []
    for row in rows:
        values = dict(zip((*names, "loaded_at", "rows_loaded"), row, strict=True))
        batches.append(
            {
                "batch_id": values["batch_id"],
                "file": f"{values['batch_id']}/{values['source_file']}",
                "entity": values["entity"],
                "sha256": values["sha256"],
                "received_at": values["received_at"].isoformat(),
                "loaded_at": values["loaded_at"].isoformat(),
                "rows_loaded": values["rows_loaded"],
            }
        )
    return batches, "the load log (batches loaded before the export)"


def build_lineage(current: env.Home, export_id: str) -> dict[str, Any]:
    """Build the lineage of one export as a JSON-ready dict.

    Raises:
        LineageError: The export is unknown or blocked, or its models do not compile.
    """
    from pipelines.lib.rules import rule_set_version

    manifest = read_manifest(current.exports, export_id)
    segment = manifest.get("segment")
    if not segment:
        msg = f"the manifest of export {export_id} names no segment"
        raise LineageError(msg)
    file_name = manifest.get("file") or f"audience-{export_id}.csv"
    sha_now = file_sha256(current.exports / export_id / file_name)
    recorded_version = _recorded(manifest, "rule_set_version")
    variables = {
        "as_of": manifest.get("as_of") or datetime.now(UTC).isoformat(),
        "rule_set_version": recorded_version or rule_set_version(),
    }
    dbt_manifest = compile_models(current, segment, variables)
    segment_id = f"model.{dbt_manifest['metadata'].get('project_name', 'clearlist')}"
    segment_id = f"{segment_id}.{segment}"
    if segment_id not in dbt_manifest["nodes"]:
        msg = f"segment {segment} of export {export_id} is no longer in the project"
        raise LineageError(msg)
    path = _upstream(dbt_manifest, segment_id)
    recorded_hashes = _recorded_model_hashes(manifest)

    models = []
    for unique_id in path:
        resource = _resource(dbt_manifest, unique_id)
        if resource["resource_type"] != "model":
            continue
        compiled = resource.get("compiled_code") or ""
        digest = hashlib.sha256(compiled.encode()).hexdigest()
        recorded = recorded_hashes.get(resource["name"])
        models.append(
            {
                "unique_id": unique_id,
                "name": resource["name"],
                "layer": resource["fqn"][1] if len(resource["fqn"]) > 2 else "",
                "relation": _dataset_name(resource),
                "materialized": resource.get("config", {}).get("materialized", ""),
                "compiled_sql_sha256": digest,
                "recorded_sha256": recorded or NOT_RECORDED,
                "matches_record": None if recorded is None else recorded == digest,
                "depends_on": sorted(resource.get("depends_on", {}).get("nodes", [])),
            }
        )
    layer_order = {"staging": 0, "intermediate": 1, "marts": 2, "segments": 3}
    models.sort(key=lambda model: (layer_order.get(model["layer"], 9), model["name"]))
    sources = [
        _resource(dbt_manifest, unique_id)
        for unique_id in path
        if unique_id.startswith("source.")
    ]
    seeds = [
        _resource(dbt_manifest, unique_id)
        for unique_id in path
        if unique_id.startswith("seed.")
    ]
    raw_tables = sorted(source["identifier"] or source["name"] for source in sources)

    with connect(current.warehouse, read_only=True) as con:
        batches, batches_from = _batches(con, manifest, raw_tables)
        schema = compiled_schema(dbt_manifest, path, warehouse_schema(con))
    tracer = ColumnTracer(dbt_manifest, schema)
    columns = []
    for column in manifest.get("columns") or []:
        traced = tracer.to_sources(segment_id, column)
        fields = [
            {
                "dataset": _dataset_name(_resource(dbt_manifest, unique_id)),
                "kind": unique_id.split(".")[0],
                "field": name,
                "transformation": "DIRECT" if direct else "INDIRECT",
            }
            for (unique_id, name), direct in sorted(
                traced.items(), key=lambda item: (not item[1], item[0])
            )
        ]
        columns.append(
            {
                "column": column,
                "direct": [
                    item for item in fields if item["transformation"] == "DIRECT"
                ],
                "indirect": [
                    item for item in fields if item["transformation"] == "INDIRECT"
                ],
            }
        )

    gate = manifest.get("gate") or {}
    export = {
        "export_id": export_id,
        "segment": segment,
        "purpose": manifest.get("purpose", NOT_RECORDED),
        "channel": manifest.get("channel", NOT_RECORDED),
        "recipient": manifest.get("recipient") or NOT_RECORDED,
        "as_of": manifest.get("as_of", NOT_RECORDED),
        "exported_at": manifest.get("exported_at", NOT_RECORDED),
        "operator": manifest.get("operator", NOT_RECORDED),
        "row_count": manifest.get("row_count", NOT_RECORDED),
        "file": file_name,
        "sha256_recorded": manifest.get("sha256", NOT_RECORDED),
        "sha256_now": sha_now or "file missing",
        "file_intact": sha_now is not None and sha_now == manifest.get("sha256"),
        "rule_set_version": recorded_version or NOT_RECORDED,
    }
    checks = gate.get("checks") or []
    report = {
        "export": export,
        "source_batches": batches,
        "source_batches_from": batches_from,
        "raw_tables": raw_tables,
        "seeds": sorted(seed["name"] for seed in seeds),
        "models": models,
        "gate": {
            "passed": gate.get("passed", NOT_RECORDED),
            "as_of": gate.get("as_of", NOT_RECORDED),
            "row_count": gate.get("row_count", NOT_RECORDED),
            "rows_fingerprint": gate.get("rows_fingerprint", NOT_RECORDED),
            "checks": [
                {
                    "rule_id": check.get("rule_id", ""),
                    "expectation": check.get("expectation", ""),
                    "column": check.get("column") or "",
                    "success": bool(check.get("success")),
                    "unexpected_count": check.get("unexpected_count"),
                }
                for check in checks
            ],
            "failures": len(gate.get("failures") or []),
        },
        "columns": columns,
        "untraced": tracer.unresolved,
        "not_recorded": [
            name
            for name, value in (
                ("rule_set_version", recorded_version),
                ("source_batches", _recorded(manifest, "source_batches", "batches")),
                ("model compiled SQL hashes", recorded_hashes or None),
                ("gate", gate or None),
            )
            if value is None
        ],
        "generated_at": datetime.now(UTC).isoformat(),
    }
    report["figures"] = {
        "source_batches": len(batches),
        "raw_tables": len(raw_tables),
        "models": len(models),
        "gate_checks": len(checks),
        "gate_checks_passed": sum(1 for check in checks if check.get("success")),
        "columns": len(columns),
        "direct_source_fields": sum(len(column["direct"]) for column in columns),
    }
    report["openlineage"] = openlineage_events(report, dbt_manifest, tracer)
    return report


def _dataset(name: str, facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"namespace": "duckdb://warehouse", "name": name, "facets": facets or {}}


def _facet(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"https://openlineage.io/spec/facets/1-0-1/{name}.json",
        **body,
    }


def _run_event(
    export_id: str, job: str, at: str, inputs: list, outputs: list, facets: dict
) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": at,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{export_id}/{job}"))},
        "job": {"namespace": NAMESPACE, "name": job, "facets": facets},
        "inputs": inputs,
        "outputs": outputs,
    }


def openlineage_events(
    report: dict[str, Any], dbt_manifest: dict[str, Any], tracer: ColumnTracer
) -> list[dict[str, Any]]:
    """OpenLineage run events: ingestion per raw table, one per model, the export."""
    export = report["export"]
    export_id = export["export_id"]
    at = str(export["exported_at"])
    events = []
    for table in report["raw_tables"]:
        batches = [b for b in report["source_batches"] if b["entity"] == table]
        inputs = [
            {
                "namespace": "file",
                "name": f"landing/{batch['file']}",
                "facets": {
                    "clearlist_batch": _facet(
                        "clearlist_batch",
                        {
                            key: batch[key]
                            for key in ("batch_id", "sha256", "received_at")
                        },
                    )
                },
            }
            for batch in batches
        ]
        events.append(
            _run_event(
                export_id, f"ingest.{table}", at, inputs, [_dataset(f"raw.{table}")], {}
            )
        )
    for model in report["models"]:
        fields: dict[str, Any] = {}
        for (unique_id, column), edges in tracer.edges.items():
            if unique_id != model["unique_id"]:
                continue
            fields[column] = {
                "inputFields": [
                    {
                        "namespace": "duckdb://warehouse",
                        "name": _dataset_name(_resource(dbt_manifest, edge["from"])),
                        "field": edge["field"],
                        "transformations": [
                            {"type": "DIRECT" if edge["direct"] else "INDIRECT"}
                        ],
                    }
                    for edge in edges
                ]
            }
        output_facets = {}
        if fields:
            output_facets["columnLineage"] = _facet(
                "ColumnLineageDatasetFacet", {"fields": fields}
            )
        inputs = [
            _dataset(_dataset_name(_resource(dbt_manifest, upstream)))
            for upstream in model["depends_on"]
        ]
        job_facets = {
            "clearlist_compiled_sql": _facet(
                "clearlist_compiled_sql",
                {
                    "sha256": model["compiled_sql_sha256"],
                    "recorded_sha256": model["recorded_sha256"],
                },
            )
        }
        events.append(
            _run_event(
                export_id,
                f"dbt.{model['name']}",
                at,
                inputs,
                [_dataset(model["relation"], output_facets)],
                job_facets,
            )
        )
    end_to_end = {
        column["column"]: {
            "inputFields": [
                {
                    "namespace": "duckdb://warehouse",
                    "name": item["dataset"],
                    "field": item["field"],
                    "transformations": [{"type": item["transformation"]}],
                }
                for item in column["direct"] + column["indirect"]
            ]
        }
        for column in report["columns"]
    }
    segment_relation = next(
        (m["relation"] for m in report["models"] if m["name"] == export["segment"]),
        f"segments.{export['segment']}",
    )
    assertions = [
        {
            "assertion": f"{c['rule_id']}:{c['expectation']}",
            "success": c["success"],
            "column": c["column"],
        }
        for c in report["gate"]["checks"]
    ]
    events.append(
        _run_event(
            export_id,
            "export.audience_file",
            at,
            [
                _dataset(
                    segment_relation,
                    {
                        "dataQualityAssertions": _facet(
                            "DataQualityAssertionsDatasetFacet",
                            {"assertions": assertions},
                        )
                    },
                )
            ],
            [
                {
                    "namespace": "file",
                    "name": f"exports/{export_id}/{export['file']}",
                    "facets": {
                        "columnLineage": _facet(
                            "ColumnLineageDatasetFacet", {"fields": end_to_end}
                        ),
                        "clearlist_file": _facet(
                            "clearlist_file",
                            {
                                "sha256": export["sha256_recorded"],
                                "rows": export["row_count"],
                            },
                        ),
                    },
                }
            ],
            {},
        )
    )
    return events


@cache
def _templates() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: dict[str, Any]) -> str:
    """Render the report as one self-contained HTML page (everything escaped)."""
    return _templates().get_template("lineage.html.j2").render(report=report)


def write_reports(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write `lineage.html` and `lineage.json` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "lineage.json"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    html_path = folder / "lineage.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return html_path, json_path
