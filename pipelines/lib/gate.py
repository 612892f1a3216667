"""The export gate: an independent re-check of the rows about to leave the warehouse.

The gate never reads the eligibility model or the dbt macro that chose the rows. It
re-derives every blocking fact from the consent ledger (the `marts` fact tables) with
queries of its own, puts one boolean per rule beside each outbound row, and lets a
Great Expectations suite (`expectations/audience.critical.json`) judge the frame. The
frame travels from DuckDB to GX through Arrow; GX's SQL datasource on DuckDB resolves
no metrics in the pinned version.

Results carry expectation names, rule ids and counts only: never row values.
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.env import EXPECTATIONS_DIR

logger = logging.getLogger(__name__)

SUITE_PATH = EXPECTATIONS_DIR / "audience.critical.json"

# Columns the gate adds next to the exported ones; never written to an audience file.
GATE_COLUMNS = (
    "person_id",
    "gate_authorization_ok",
    "gate_not_deceased",
    "gate_of_age",
    "gate_not_restricted",
    "gate_confidential_ok",
    "gate_email_not_suppressed",
    "gate_sms_not_stopped",
    "gate_fundraising_not_opted_out",
    "gate_contact_present",
    "gate_contact_normalized",
)


class GateError(RuntimeError):
    """The gate could not run: missing inputs, or a suite that does not load."""


@dataclass(frozen=True)
class Communication:
    """What a segment declares about the message it feeds (RULES.md section 3)."""

    segment: str
    purpose_code: str
    channel: str
    recipients: tuple[str, ...]
    export_columns: tuple[str, ...]
    marketing_topic: str | None = None
    list_id: str | None = None
    info_scope: tuple[str, ...] = ("demographics", "contact")

    @classmethod
    def from_meta(cls, segment: str, meta: dict[str, Any]) -> "Communication":
        """Build from a segment model's `meta.segment` block in the dbt manifest."""
        try:
            return cls(
                segment=segment,
                purpose_code=str(meta["purpose_code"]).upper(),
                channel=str(meta["channel"]).lower(),
                recipients=tuple(meta.get("recipients") or ("CoveredEntity",)),
                export_columns=tuple(meta["export_columns"]),
                marketing_topic=meta.get("marketing_topic"),
                list_id=meta.get("list_id"),
                info_scope=tuple(meta.get("info_scope") or ("demographics", "contact")),
            )
        except KeyError as missing:
            msg = (
                f"segment {segment!r} declares no {missing.args[0]!r} in its "
                "meta.segment config; every segment must declare purpose_code, "
                "channel and export_columns"
            )
            raise GateError(msg) from None


@dataclass
class GateResult:
    """The verdict of one gate run, free of row values."""

    segment: str
    as_of: str
    passed: bool
    row_count: int
    rows_fingerprint: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "segment": self.segment,
            "as_of": self.as_of,
            "passed": self.passed,
            "row_count": self.row_count,
            "rows_fingerprint": self.rows_fingerprint,
            "failures": self.failures,
            "checks": self.checks,
        }


def rows_fingerprint(rows: pa.Table) -> str:
    """Hash the outbound rows (sorted), so export can prove it writes what passed."""
    sorted_rows = rows.sort_by([(name, "ascending") for name in rows.column_names])
    digest = hashlib.sha256()
    digest.update(json.dumps(rows.column_names).encode())
    for row in sorted_rows.to_pylist():
        digest.update(json.dumps(row, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def outbound_rows(
    con: duckdb.DuckDBPyConnection, relation: str, communication: Communication
) -> pa.Table:
    """Read exactly the rows and columns an export of `relation` would write."""
    columns = ", ".join(f'"{name}"' for name in communication.export_columns)
    return con.sql(
        f"select {columns} from {relation} where is_included"
    ).to_arrow_table()


def _list_sql(column: str) -> str:
    """Turn a ';A;B;' ledger list into a DuckDB list of upper-case items."""
    return f"list_transform(string_split(trim({column}, ';'), ';'), x -> upper(x))"


def gate_frame(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    communication: Communication,
    as_of: datetime,
) -> pa.Table:
    """Derive, for each outbound row, one boolean per blocking rule from the ledger.

    Args:
        con: An open connection to the warehouse.
        relation: The table holding the rows to export (with `person_id`).
        communication: The declared purpose, channel, topic, list and recipients.
        as_of: The instant the rules are judged at (UTC).

    Returns:
        The export columns plus the gate columns, one row per outbound row.
    """
    c = communication
    purpose = c.purpose_code
    purposes_needing_auth = {
        row[0]
        for row in con.sql(
            "select purpose_code from rules.purpose_codes where needs_authorization"
        ).fetchall()
    }
    known_purposes = {
        row[0]
        for row in con.sql("select purpose_code from rules.purpose_codes").fetchall()
    }
    if purpose not in known_purposes:
        purpose = "MARKETING"
    needs_auth = purpose in purposes_needing_auth
    commercial = purpose not in {"TREATMENT", "CARE_COORD", "REFILL"}
    adults_only = purpose in {"MARKETING", "FUNDRAISING", "DISCLOSURE_FOR_REMUNERATION"}
    wanted_purposes = [purpose]
    if c.marketing_topic:
        wanted_purposes.append(f"{purpose}:{c.marketing_topic}".upper())
    contact_column = {"email": "email", "sms": "mobile_phone", "phone": "mobile_phone"}
    contact = contact_column.get(c.channel, "postal_address")
    has_contact_column = contact in c.export_columns
    contact_sql = f'outbound."{contact}"' if has_contact_column else "null"

    recipient_checks = " and ".join(
        f"""(list_contains({_list_sql("a.recipients")}, upper(${f"r{i}"})) or
            list_contains({_list_sql("a.employer_recipients")}, upper(${f"r{i}"})))"""
        for i, _ in enumerate(c.recipients)
    )
    params: dict[str, Any] = {
        "as_of": as_of,
        "channel": c.channel.upper(),
        "purposes": wanted_purposes,
        "purpose": purpose,
        "list_id": c.list_id,
        "info_scope": [category.upper() for category in c.info_scope],
    }
    params.update({f"r{i}": r for i, r in enumerate(c.recipients)})

    sql = f"""
    with
    outbound as (select * from {relation} where is_included),
    versions_in_force as (
        select a.*
        from marts.fct_authorizations as a
        where a.known_at <= $as_of
          and (a.superseded_at is null or a.superseded_at > $as_of)
    ),
    revoked as (
        select person_id, authorization_id,
               min(coalesce(revoked_at, known_at)) as revoked_at,
               list_has_any({_list_sql("purposes")}, $purposes) as same_purpose
        from marts.fct_authorizations
        where (revoked_at is not null or status = 'revoked')
          and coalesce(revoked_at, known_at) <= $as_of
        group by all
    ),
    good_authorizations as (
        select a.person_id, a.authorization_id, a.signed_at
        from versions_in_force as a
        where a.status = 'signed'
          and not a.is_deleted
          and a.match_method in ('mrn', 'verified_email')
          and a.signed_at is not null
          and a.signed_at <= $as_of
          and a.signature_dated_at <= a.known_at
          and a.signer_role is not null
          and (a.signer_role = 'self' or a.signer_authority is not null)
          and (a.signature_method != 'esign' or a.esign_evidence_id is not null)
          and (a.expires_at is not null or a.expiration_event is not null)
          and coalesce(a.expires_at > $as_of, true)
          and coalesce(a.expiry_event_occurred_at > $as_of, true)
          and a.has_template
          and list_contains({_list_sql("a.regulations")}, 'HIPAA-164.508')
          and a.has_revocation_statement
          and a.has_conditioning_statement
          and a.has_redisclosure_statement
          and not a.is_compound
          and not a.is_conditioned_on_treatment
          and list_has_any({_list_sql("a.purposes")}, $purposes)
          and list_contains({_list_sql("a.channels")}, $channel)
          and {recipient_checks or "true"}
          and (
              list_contains({_list_sql("a.info_scope")}, 'ALL')
              or list_has_all({_list_sql("a.info_scope")}, $info_scope)
          )
    ),
    valid_authorizations as (
        select distinct g.person_id
        from good_authorizations as g
        where not exists (
            select 1 from revoked as r
            where r.authorization_id = g.authorization_id
               or (r.person_id = g.person_id and r.same_purpose
                   and g.signed_at < r.revoked_at)
        )
    ),
    deceased as (
        select person_id from marts.dim_persons
        where deceased_known_at <= $as_of
    ),
    ages as (
        select
            p.person_id,
            p.birth_date,
            greatest(
                coalesce(m_ehr.majority_age, 18), coalesce(m_crm.majority_age, 18)
            ) as majority_age
        from marts.dim_persons as p
        left join rules.majority_ages as m_ehr on m_ehr.state = p.ehr_state
        left join rules.majority_ages as m_crm on m_crm.state = p.crm_state
    ),
    requests as (
        select * from marts.fct_privacy_requests
        where status = 'active' and known_at <= $as_of
          and (superseded_at is null or superseded_at > $as_of)
          and coalesce(period_start_at <= $as_of, true)
          and coalesce(period_end_at > $as_of, true)
    ),
    restricted as (
        select distinct person_id from requests
        where request_kind = 'restriction' and provision_type = 'deny'
          and (purposes = ';' or list_contains({_list_sql("purposes")}, $purpose))
    ),
    confidential as (
        select person_id,
               bool_or(list_contains({_list_sql("channels")}, $channel)) as allows,
               list(lower(trim(alt_contact_value))) as alternatives
        from requests
        where request_kind = 'confidential-communication'
        group by person_id
    ),
    suppressions as (
        select * from marts.fct_email_suppressions
        where suppressed_at <= $as_of
          and (is_all_commercial or $list_id is null or list_id = $list_id)
    ),
    stops as (
        select distinct phone_key from marts.fct_sms_revocations
        where revoked_at <= $as_of
    ),
    fundraising_out as (
        select distinct person_id from marts.fct_fundraising_optouts
        where opted_out_at <= $as_of
          and (opted_back_in_at is null or opted_back_in_at > $as_of)
    )
    select
        outbound.*,
        outbound.person_id as person_id,
        {"v.person_id is not null" if needs_auth else "true"} as gate_authorization_ok,
        d.person_id is null as gate_not_deceased,
        {
        '''coalesce(
            ages.birth_date + to_years(ages.majority_age::integer)
            + interval 12 hour <= $as_of, false)'''
        if adults_only
        else "true"
    }
            as gate_of_age,
        rs.person_id is null as gate_not_restricted,
        cf.person_id is null
            or (cf.allows and list_contains(cf.alternatives, lower({contact_sql})))
            as gate_confidential_ok,
        {
        f'''not exists (
            select 1 from suppressions as s
            where s.person_id = outbound.person_id
               or s.email_norm = lower(trim({contact_sql}))
        )'''
        if c.channel == "email" and commercial
        else "true"
    }
            as gate_email_not_suppressed,
        {
        f'''not exists (
            select 1 from stops
            where stops.phone_key = right(
                regexp_replace({contact_sql}, '[^0-9]', '', 'g'), 10)
        )'''
        if c.channel == "sms"
        else "true"
    } as gate_sms_not_stopped,
        {"fo.person_id is null" if purpose == "FUNDRAISING" else "true"}
            as gate_fundraising_not_opted_out,
        {f"nullif(trim({contact_sql}), '') is not null"} as gate_contact_present,
        {
        f"{contact_sql} = lower(trim({contact_sql}))"
        if c.channel == "email"
        else "true"
    } as gate_contact_normalized
    from outbound
    left join valid_authorizations as v on v.person_id = outbound.person_id
    left join deceased as d on d.person_id = outbound.person_id
    left join ages on ages.person_id = outbound.person_id
    left join restricted as rs on rs.person_id = outbound.person_id
    left join confidential as cf on cf.person_id = outbound.person_id
    left join fundraising_out as fo on fo.person_id = outbound.person_id
    """
    # A null verdict would slip past a value-set expectation: it counts as a failure.
    coalesced = ", ".join(
        f"coalesce({name}, false) as {name}"
        for name in GATE_COLUMNS
        if name != "person_id"
    )
    sql = f"select * replace ({coalesced}) from ({sql})"
    logger.debug("gate SQL for %s: %s", c.segment, sql)
    return con.execute(sql, params).fetch_arrow_table()


def load_suite(path: Path = SUITE_PATH) -> dict[str, Any]:
    """Read a suite file: a name, and expectations with type, kwargs and meta."""
    try:
        suite = json.loads(path.read_text())
        suite["expectations"]  # noqa: B018 - a suite without expectations is broken
    except (OSError, ValueError, KeyError) as error:
        msg = f"cannot load the gate suite {path.name}: {error}"
        raise GateError(msg) from error
    return suite


def _expectation_class(type_name: str) -> Any:
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    try:
        return getattr(gx.expectations, class_name)
    except AttributeError:
        msg = f"the gate suite names an unknown expectation {type_name!r}"
        raise GateError(msg) from None


def validate(frame: pa.Table, suite: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a suite over an Arrow frame with Great Expectations.

    Returns:
        One entry per expectation: its type, column, rule id, success and the count
        of unexpected rows. No row values are kept.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="gate")
    asset = source.add_dataframe_asset(name="outbound")
    batch_definition = asset.add_batch_definition_whole_dataframe("all_rows")
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite["name"]))
    for item in suite["expectations"]:
        expectation_class = _expectation_class(item["type"])
        gx_suite.add_expectation(
            expectation_class(**item["kwargs"], meta=item.get("meta", {}))
        )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{suite['name']}.validation", data=batch_definition, suite=gx_suite
        )
    )
    result = definition.run(
        batch_parameters={"dataframe": frame.to_pandas()},
        result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
    )
    checks = []
    for outcome in result.results:
        config = outcome.expectation_config
        details = outcome.result or {}
        checks.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column"),
                "rule_id": (config.meta or {}).get("rule_id"),
                "success": bool(outcome.success),
                "unexpected_count": int(details.get("unexpected_count") or 0),
                "element_count": int(details.get("element_count") or 0),
            }
        )
    return checks


def run_gate(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    communication: Communication,
    as_of: datetime,
    *,
    allowed_columns: set[str],
    suite_path: Path = SUITE_PATH,
) -> GateResult:
    """Judge the rows an export of `relation` would write; any failure blocks it.

    Args:
        con: An open connection to the warehouse.
        relation: The table holding the outbound rows.
        communication: What the segment declares.
        as_of: The instant the rules are judged at.
        allowed_columns: The minimum-necessary allow-list for the purpose and
            channel (R-MINNEC).
        suite_path: The expectation suite file.

    Returns:
        The gate result: passed only if every expectation and the column check held.
    """
    outbound = outbound_rows(con, relation, communication)
    frame = gate_frame(con, relation, communication, as_of)
    checks = validate(frame, load_suite(suite_path))
    extra = sorted(set(communication.export_columns) - allowed_columns)
    checks.append(
        {
            "expectation": "export_columns_within_allow_list",
            "column": None,
            "rule_id": "R-MINNEC",
            "success": not extra,
            "unexpected_count": len(extra),
            "element_count": len(communication.export_columns),
            "unexpected_columns": extra,
        }
    )
    failures = [check for check in checks if not check["success"]]
    result = GateResult(
        segment=communication.segment,
        as_of=as_of.isoformat(),
        passed=not failures,
        row_count=outbound.num_rows,
        rows_fingerprint=rows_fingerprint(outbound),
        failures=failures,
        checks=checks,
    )
    logger.info(
        "gate on %s: %s, %d rows, %d failed checks",
        relation,
        "passed" if result.passed else "BLOCKED",
        result.row_count,
        len(failures),
    )
    return result


def allowed_export_columns(
    con: duckdb.DuckDBPyConnection, communication: Communication
) -> set[str]:
    """Read the minimum-necessary allow-list (seed) for the purpose and channel."""
    rows = con.execute(
        "select column_name from rules.export_allowlist "
        "where purpose_code = $purpose and channel = $channel",
        {"purpose": communication.purpose_code, "channel": communication.channel},
    ).fetchall()
    return {row[0] for row in rows}
