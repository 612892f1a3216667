"""Segments as the dbt manifest declares them, and the static check that guards them.

A segment is a dbt model built by the `segment` macro (dbt_project/macros/segment.sql):
the analyst writes criteria, the macro declares the communication in the model's
`meta.segment` config and wraps the criteria in the consent filter. Before any segment
builds, `check_segments` reads the manifest and each segment's compiled SQL with
sqlglot and refuses, naming the rule, a segment that:

- was not declared through the macro, or whose consent filter does not wrap the
  whole query (SEG-DECLARE, SEG-FILTER);
- reads anything but the marts and intermediate building blocks: a source, a raw or
  staging table, a seed (SEG-LEDGER-ONLY);
- reads a column of a data category it did not declare (SEG-DECLARE), or one its
  purpose may not use: psychotherapy notes ever (R-PSYNOTES), a sensitive category
  for marketing or fundraising (R-SENS), anything beyond 164.514(f) data for
  fundraising (R-FUND-DATA); an unclassified column counts as forbidden
  (SEM-FAIL-CLOSED);
- exports a column outside the allow-list for its purpose and channel (R-MINNEC), or
  names a recipient the register does not know (R-RECIP).

Column categories come from the models' YAML: `meta.data_category` on a model is the
category of all its columns, and a column's own `meta.data_category` overrides it.
"""

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer import optimize
from sqlglot.optimizer.scope import traverse_scope

SEGMENT_TAG = "segment"
CRITERIA_CTE = "segment_criteria"
# CTEs the segment macro writes, in the order it writes them.
FILTER_CTES = ("segment_criteria", "criteria_people", "segment_decisions", "final")
KEY_COLUMNS = frozenset({"person_id"})
LEDGER_FOLDERS = frozenset({"marts", "intermediate"})
# Purposes whose criteria may not use a sensitive category (R-SENS).
SENSITIVE_FORBIDDEN = frozenset(
    {"MARKETING", "FUNDRAISING", "DISCLOSURE_FOR_REMUNERATION"}
)


class SegmentError(RuntimeError):
    """A segment that must not build; the message names every rule it breaks."""


@dataclass(frozen=True)
class Segment:
    """A segment model and the communication it declares (RULES.md section 3)."""

    name: str
    unique_id: str
    relation: str
    purpose_code: str
    channel: str
    recipients: tuple[str, ...]
    export_columns: tuple[str, ...]
    criteria_categories: tuple[str, ...]
    marketing_topic: str | None = None
    list_id: str | None = None
    owner: str | None = None
    description: str | None = None
    declared: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> "Segment":
        """Read a manifest node; raise SegmentError when it declares no segment."""
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        declared = meta.get("segment") or {}
        missing = [
            key
            for key in ("purpose_code", "channel", "export_columns")
            if not declared.get(key)
        ]
        if missing:
            msg = (
                f"{node['name']}: SEG-DECLARE: a segment is written as a call block of "
                f"the `segment` macro, which declares {', '.join(missing)}"
            )
            raise SegmentError(msg)
        return cls(
            name=node["name"],
            unique_id=node["unique_id"],
            relation=node.get("relation_name") or node["name"],
            purpose_code=str(declared["purpose_code"]).upper(),
            channel=str(declared["channel"]).lower(),
            recipients=tuple(declared.get("recipients") or ("CoveredEntity",)),
            export_columns=tuple(declared["export_columns"]),
            criteria_categories=tuple(declared.get("criteria_categories") or ()),
            marketing_topic=declared.get("marketing_topic"),
            list_id=declared.get("list_id"),
            owner=declared.get("owner"),
            description=declared.get("description") or node.get("description"),
            declared=declared,
        )


@dataclass(frozen=True)
class Violation:
    """One reason a segment may not build."""

    segment: str
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.segment}: {self.rule_id}: {self.message}"


@dataclass(frozen=True)
class RuleSeeds:
    """The seeds the static check reads: categories, allow-list, register."""

    categories: Mapping[str, Mapping[str, str]]
    allowlist: frozenset[tuple[str, str, str]]
    recipients: frozenset[str]
    purposes: frozenset[str]

    @classmethod
    def read(cls, seeds_dir: Path) -> "RuleSeeds":
        """Read the rule seeds of the dbt project."""

        def rows(name: str) -> list[dict[str, str]]:
            with (seeds_dir / f"{name}.csv").open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))

        return cls(
            categories={row["category"]: row for row in rows("data_categories")},
            allowlist=frozenset(
                (row["purpose_code"], row["channel"], row["column_name"])
                for row in rows("export_allowlist")
            ),
            recipients=frozenset(
                row["recipient"].lower() for row in rows("recipient_register")
            ),
            purposes=frozenset(row["purpose_code"] for row in rows("purpose_codes")),
        )

    def flag(self, category: str, name: str) -> bool:
        """Read a boolean column of the data_categories seed."""
        return self.categories[category][name].strip().lower() == "true"


def segment_nodes(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every model of the manifest tagged as a segment, by name."""
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and SEGMENT_TAG in node.get("tags", [])
    ]
    return sorted(nodes, key=lambda node: node["name"])


def read_segments(manifest: Mapping[str, Any]) -> dict[str, Segment]:
    """The declared segments of a manifest; SegmentError if one declares nothing."""
    return {node["name"]: Segment.from_node(node) for node in segment_nodes(manifest)}


def relation_index(manifest: Mapping[str, Any]) -> dict[tuple[str, str], Mapping]:
    """Map (schema, table) in lower case to the manifest node or source behind it."""
    index = {}
    for collection in ("nodes", "sources"):
        for node in manifest.get(collection, {}).values():
            schema = node.get("schema")
            table = node.get("alias") or node.get("identifier") or node.get("name")
            if schema and table:
                index[(schema.lower(), table.lower())] = node
    return index


def column_category(node: Mapping[str, Any], column: str) -> str | None:
    """The data category of a model's column, from its YAML meta."""
    columns = {name.lower(): spec for name, spec in (node.get("columns") or {}).items()}
    spec = columns.get(column.lower()) or {}
    column_meta = spec.get("meta") or (spec.get("config") or {}).get("meta") or {}
    if column_meta.get("data_category"):
        return str(column_meta["data_category"]).lower()
    model_meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    category = model_meta.get("data_category")
    return str(category).lower() if category else None


def criteria_query(tree: exp.Expression) -> exp.Expression:
    """The analyst's criteria: the macro's `segment_criteria` step of the parsed SQL.

    Raises:
        SegmentError: The SQL has no such step (SEG-FILTER).
    """
    with_clause = tree.args.get("with_")
    ctes = (
        {cte.alias: cte.this for cte in with_clause.expressions} if with_clause else {}
    )
    if CRITERIA_CTE not in ctes:
        msg = f"SEG-FILTER: the compiled SQL has no {CRITERIA_CTE} step"
        raise SegmentError(msg)
    return ctes[CRITERIA_CTE].copy()


def criteria_tables(criteria: exp.Expression) -> set[tuple[str, str]]:
    """Every (schema, table) the criteria read, in lower case."""
    return {
        (table.db.lower(), table.name.lower())
        for table in criteria.find_all(exp.Table)
        if table.name.lower() not in _cte_names(criteria)
    }


def criteria_columns(
    criteria: exp.Expression, schema: Mapping[str, Any]
) -> set[tuple[str, str, str]]:
    """The base-table columns the criteria use, after sqlglot resolves every CTE.

    sqlglot's optimizer qualifies each column, expands stars and prunes what no
    later step uses, so an import CTE's `select *` counts only the columns the
    criteria go on to read.

    Raises:
        SegmentError: sqlglot cannot resolve a column (SEM-FAIL-CLOSED).
    """
    try:
        resolved = optimize(criteria.copy(), schema=schema, dialect="duckdb")
    except SqlglotError as error:
        msg = f"SEM-FAIL-CLOSED: cannot resolve the columns the criteria read ({error})"
        raise SegmentError(msg) from error
    columns = set()
    for scope in traverse_scope(resolved):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                columns.add(
                    (source.db.lower(), source.name.lower(), column.name.lower())
                )
    return columns


def _cte_names(expression: exp.Expression) -> set[str]:
    return {cte.alias.lower() for cte in expression.find_all(exp.CTE)}


def _filter_wraps_query(tree: exp.Expression, segment: Segment) -> bool:
    """Whether the macro's filter is the whole query: its CTEs, ending on `final`."""
    if not isinstance(tree, exp.Select):
        return False
    with_clause = tree.args.get("with_")
    names = [cte.alias for cte in with_clause.expressions] if with_clause else []
    verdicts = [name for name in names if name.startswith("verdicts_for_recipient_")]
    from_clause = tree.args.get("from_") or exp.From()
    sources = [table.name for table in from_clause.find_all(exp.Table)]
    return (
        all(name in names for name in FILTER_CTES)
        and len(verdicts) == len(segment.recipients)
        and sources == ["final"]
        and not tree.args.get("joins")
        and not tree.args.get("where")
    )


def check_segment(
    segment: Segment,
    node: Mapping[str, Any],
    compiled_sql: str,
    manifest: Mapping[str, Any],
    seeds: RuleSeeds,
    schema: Mapping[str, Any],
) -> list[Violation]:
    """Every rule one segment breaks, statically; empty when it may build."""
    found: list[Violation] = []

    def violation(rule_id: str, message: str) -> None:
        found.append(Violation(segment.name, rule_id, message))

    purpose = segment.purpose_code if segment.purpose_code in seeds.purposes else None
    # RULES.md 1.6: an unknown purpose is marketing.
    judged_purpose = purpose or "MARKETING"

    for recipient in segment.recipients:
        if recipient.lower() not in seeds.recipients:
            violation(
                "R-RECIP",
                f"recipient {recipient!r} is not in the recipient register",
            )
    for column in segment.export_columns:
        if (judged_purpose, segment.channel, column) not in seeds.allowlist:
            violation(
                "R-MINNEC",
                f"export column {column!r} is not on the allow-list for "
                f"{judged_purpose} by {segment.channel}",
            )

    try:
        tree = sqlglot.parse_one(compiled_sql, dialect="duckdb")
        if not _filter_wraps_query(tree, segment):
            violation(
                "SEG-FILTER",
                "the consent filter does not wrap the whole query; write the "
                "criteria inside the `segment` call block and nothing after it",
            )
        criteria = criteria_query(tree)
    except (SegmentError, SqlglotError) as error:
        violation("SEG-FILTER", str(error).removeprefix("SEG-FILTER: "))
        return found

    index = relation_index(manifest)
    for schema_name, table in sorted(criteria_tables(criteria)):
        source = index.get((schema_name, table))
        folder = (source or {}).get("fqn", [None, None])[1:2]
        if (
            source is None
            or source.get("resource_type") != "model"
            or not set(folder) & LEDGER_FOLDERS
        ):
            violation(
                "SEG-LEDGER-ONLY",
                f"criteria read {schema_name}.{table}; segments read only the marts "
                "and intermediate building blocks",
            )

    try:
        columns = criteria_columns(criteria, schema)
    except SegmentError as error:
        violation("SEM-FAIL-CLOSED", str(error).removeprefix("SEM-FAIL-CLOSED: "))
        columns = set()
    used: dict[str, set[str]] = {}
    for schema_name, table, column in sorted(columns):
        if column in KEY_COLUMNS:
            continue
        source = index.get((schema_name, table))
        category = column_category(source, column) if source else None
        where = f"{schema_name}.{table}.{column}"
        if category is None or category not in seeds.categories:
            violation(
                "SEM-FAIL-CLOSED",
                f"criteria read {where}, which has no known data category "
                "(meta.data_category in the model's YAML)",
            )
            continue
        used.setdefault(category, set()).add(where)

    declared = {category.lower() for category in segment.criteria_categories}
    for category in sorted(set(used) - declared):
        violation(
            "SEG-DECLARE",
            f"criteria read {category} data ({', '.join(sorted(used[category]))}) "
            "but criteria_categories does not declare it",
        )
    for category in sorted(set(used) | declared):
        if category not in seeds.categories:
            violation("SEM-FAIL-CLOSED", f"unknown data category {category!r}")
            continue
        if seeds.flag(category, "is_psychotherapy_notes"):
            violation(
                "R-PSYNOTES",
                f"{category} data is never a segment criterion or export field",
            )
        elif judged_purpose in SENSITIVE_FORBIDDEN and seeds.flag(
            category, "is_sensitive"
        ):
            violation(
                "R-SENS",
                f"{judged_purpose} segments may not use {category} data",
            )
        if judged_purpose == "FUNDRAISING" and not seeds.flag(
            category, "is_fundraising_data"
        ):
            violation(
                "R-FUND-DATA",
                f"fundraising may use only 164.514(f) data, not {category}",
            )
    return found


def check_segments(
    manifest: Mapping[str, Any],
    compiled: Mapping[str, str],
    seeds: RuleSeeds,
    schema: Mapping[str, Any],
    only: Iterable[str] | None = None,
) -> list[Violation]:
    """Check every segment (or those named in `only`); return every violation."""
    wanted = set(only) if only is not None else None
    found: list[Violation] = []
    for node in segment_nodes(manifest):
        if wanted is not None and node["name"] not in wanted:
            continue
        try:
            segment = Segment.from_node(node)
        except SegmentError as error:
            found.append(
                Violation(node["name"], "SEG-DECLARE", str(error).split(": ", 2)[-1])
            )
            continue
        sql = compiled.get(node["unique_id"])
        if not sql:
            found.append(
                Violation(node["name"], "SEG-FILTER", "no compiled SQL to check")
            )
            continue
        found.extend(check_segment(segment, node, sql, manifest, seeds, schema))
    return found


def compiled_sql(manifest: Mapping[str, Any], target_path: Path) -> dict[str, str]:
    """The compiled SQL of every segment: from the manifest, else target/compiled."""
    found = {}
    for node in segment_nodes(manifest):
        sql = node.get("compiled_code")
        if not sql:
            path = target_path / "compiled" / node["package_name"] / node["path"]
            if not path.exists():
                path = (
                    target_path
                    / "compiled"
                    / node["package_name"]
                    / node["original_file_path"]
                )
            sql = path.read_text() if path.exists() else ""
        found[node["unique_id"]] = sql
    return found


def warehouse_schema(con: Any) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """The warehouse's tables and columns, in the nested shape sqlglot expects."""
    schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    rows = con.sql(
        "select table_catalog, table_schema, table_name, column_name, data_type "
        "from information_schema.columns"
    ).fetchall()
    for catalog, schema_name, table, column, data_type in rows:
        schema.setdefault(catalog, {}).setdefault(schema_name, {}).setdefault(
            table, {}
        )[column] = data_type
    return schema


def load_manifest(target_path: Path) -> dict[str, Any]:
    """Read dbt's manifest.json from a target folder."""
    return json.loads((target_path / "manifest.json").read_text())
