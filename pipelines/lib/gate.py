"""The export gate: an independent re-check of the rows about to leave the warehouse.

The gate never reads the eligibility model, the eligibility macro or a segment's own
verdict columns (`rules_fired`); it takes the outbound rows (the `is_included`
decisions, see `outbound_rows`) and re-derives every blocking fact from the consent
ledger (the `marts` fact tables and the rule seeds) with queries written here. Each
outbound row gets one boolean per rule, and a Great Expectations suite
(`expectations/audience.critical.json`) judges that frame; checks on the file as a
whole (allow-listed columns, the recipient register, the decisions' count, a stale
build) sit beside the suite's results in the same shape.

Steps, by rule id (RULES.md):
1. The purpose: an unknown code is MARKETING (1.6); third-party remuneration makes
   treatment, care coordination and own-service messages marketing (R-MKT-EXC-TX),
   and a refill reminder paid beyond cost too (R-MKT-EXC-REFILL).
2. Facts count once received at or before `as_of` (1.3).
3. Authorization (R-MKT-AUTH) for purposes that need one: a version in force,
   linked by a verified identifier (1.5), covering purpose and topic, channel,
   PHI categories and every recipient (R-RECIP, with R-BAA deciding whether a
   recipient is the covered entity's own use), with no defect (R-AUTH-CORE, -STMT,
   -COMPOUND, -COND, -SIGNER, -E-SIGN, -FALSE), unexpired (R-AUTH-EXP), unrevoked
   (R-AUTH-REV, 1.7), not signed by a parent of an adult (R-MINOR-AGEOUT), stating
   remuneration when paid (R-MKT-REMUN, R-SALE). Texts for marketing or fundraising
   need written consent bound to the number (R-SMS-PEWC).
4. The person: verified identity (SEM-IDENTITY), not deceased (R-DECEASED), of age
   for adults-only purposes (R-MINOR), no agreed restriction (R-RESTRICT), Part 2
   data only with a Part 2 consent (R-SUD-P2); the communication's data categories
   (R-SENS, R-PSYNOTES, R-FUND-DATA).
5. The address: present, normalized, on file for the person at `as_of`, the
   confidential-communication alternative where one is on file (R-CONFCOMM), not
   opted out on any address or number linked to the person (R-EMAIL-OPTOUT with
   R-EMAIL-NORM match keys, R-SMS-STOP, R-FUND-OPTOUT).
6. The file: no duplicate people, allow-listed columns (R-MINNEC), a recipient the
   register allows (R-BAA, R-FUND-SCOPE), as many rows as the segment included,
   and no stale build (R-GATE).

Results carry expectation names, rule ids, counts and person keys only: never row
values. The frame Great Expectations sees holds the person key and the gate columns,
no export column.
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
import pyarrow.compute as pc

from pipelines.env import EXPECTATIONS_DIR

logger = logging.getLogger(__name__)

SUITE_PATH = EXPECTATIONS_DIR / "audience.critical.json"

# Person keys a failure lists, at most; the count is always complete.
MAX_PERSON_KEYS = 100

# The gate's row checks: column, rule id, what a true value means. The suite in
# expectations/audience.critical.json expects each column to be true on every row.
GATE_RULES: tuple[tuple[str, str, str], ...] = (
    ("gate_identity_verified", "SEM-IDENTITY", "identity linked by a verified id"),
    ("gate_authorization_ok", "R-MKT-AUTH", "a valid authorization covers it all"),
    ("gate_auth_not_revoked", "R-AUTH-REV", "not left only with revoked ones"),
    ("gate_auth_not_expired", "R-AUTH-EXP", "not left only with expired ones"),
    ("gate_auth_names_recipients", "R-RECIP", "authorization names every recipient"),
    ("gate_auth_form_valid", "R-AUTH-CORE", "not left only with defective forms"),
    ("gate_sms_consent_bound", "R-SMS-PEWC", "written consent bound to the number"),
    ("gate_not_deceased", "R-DECEASED", "no death known at as_of"),
    ("gate_of_age", "R-MINOR", "of majority age in every state on file"),
    ("gate_not_restricted", "R-RESTRICT", "no agreed restriction covers it"),
    ("gate_part2_consented", "R-SUD-P2", "Part 2 data only with a Part 2 consent"),
    ("gate_no_sensitive_data", "R-SENS", "no sensitive category for this purpose"),
    ("gate_no_psychotherapy_notes", "R-PSYNOTES", "no psychotherapy notes used"),
    ("gate_fundraising_data_only", "R-FUND-DATA", "fundraising uses 164.514(f) data"),
    ("gate_confidential_ok", "R-CONFCOMM", "the confidential address when on file"),
    ("gate_email_not_suppressed", "R-EMAIL-OPTOUT", "no email opt-out in force"),
    ("gate_sms_not_stopped", "R-SMS-STOP", "no STOP from any linked number"),
    ("gate_fundraising_not_opted_out", "R-FUND-OPTOUT", "no fundraising opt-out"),
    ("gate_contact_present", "SEM-NO-CONTACT", "the channel address is present"),
    ("gate_contact_normalized", "R-EMAIL-NORM", "the address is in normal form"),
    ("gate_contact_on_file", "R-GATE", "the address is the person's own, on file"),
)
GATE_COLUMNS = ("person_id", *(column for column, _, _ in GATE_RULES))

# The export column that carries each channel's address.
CONTACT_COLUMNS = {
    "email": "email",
    "sms": "mobile_phone",
    "phone": "mobile_phone",
    "mail": "postal_address",
}
# The service a business associate's BAA must cover for each channel (R-BAA).
CHANNEL_SERVICES = {
    "email": "email_sending",
    "sms": "sms_sending",
    "phone": "phone_calling",
    "mail": "mail_sending",
}
# Purposes that may go to a health plan without authorization (R-BAA: payment or
# care coordination with a plan).
HEALTH_PLAN_PURPOSES = frozenset({"TREATMENT", "CARE_COORD"})
ADULTS_ONLY_FALLBACK = frozenset({"MARKETING", "FUNDRAISING"})
SENSITIVE_PURPOSES = frozenset({"MARKETING", "FUNDRAISING"})
NON_HEALTH_CATEGORIES = frozenset({"demographics", "contact"})


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
    criteria_categories: tuple[str, ...] = ("demographics",)
    third_party_remuneration: bool = False
    remuneration_cost_only: bool = False
    remuneration_for_phi: bool = False

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
                list_id=None if meta.get("list_id") is None else str(meta["list_id"]),
                criteria_categories=tuple(
                    meta.get("criteria_categories") or ("demographics",)
                ),
                third_party_remuneration=bool(meta.get("third_party_remuneration")),
                remuneration_cost_only=bool(meta.get("remuneration_cost_only")),
                remuneration_for_phi=bool(meta.get("remuneration_for_phi")),
            )
        except KeyError as missing:
            msg = (
                f"segment {segment!r} declares no {missing.args[0]!r} in its "
                "meta.segment config; every segment must declare purpose_code, "
                "channel and export_columns"
            )
            raise GateError(msg) from None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view (kept in the internal manifest for rechecks)."""
        return {
            "segment": self.segment,
            "purpose_code": self.purpose_code,
            "channel": self.channel,
            "recipients": list(self.recipients),
            "export_columns": list(self.export_columns),
            "marketing_topic": self.marketing_topic,
            "list_id": self.list_id,
            "criteria_categories": list(self.criteria_categories),
            "third_party_remuneration": self.third_party_remuneration,
            "remuneration_cost_only": self.remuneration_cost_only,
            "remuneration_for_phi": self.remuneration_for_phi,
        }

    @property
    def info_scope(self) -> tuple[str, ...]:
        """The PHI categories used: the criteria's, plus names and addresses."""
        used = [c.lower() for c in self.criteria_categories] + [
            "demographics",
            "contact",
        ]
        return tuple(dict.fromkeys(used))

    @property
    def contact_column(self) -> str:
        """The export column that carries the channel's address."""
        return CONTACT_COLUMNS.get(self.channel, "postal_address")


@dataclass(frozen=True)
class BuildStamp:
    """What the gate knows about when the segment's rows were built.

    Attributes:
        built_at: When the segment table was written (its materialization).
        inputs_changed_at: The latest rebuild of a ledger model it reads, if known.
        rule_set_version: The rule set the run builds with; rows stamped with
            another one were decided by other rules.
        expected_rows: The included count a preview showed, when one is given.
    """

    built_at: datetime | None = None
    inputs_changed_at: datetime | None = None
    rule_set_version: str | None = None
    expected_rows: int | None = None


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
    recipient: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

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
            "recipient": self.recipient,
            "context": self.context,
        }

    def summary(self) -> str:
        """One line per failed check: rule id, check and count."""
        return "; ".join(
            f"{failure.get('rule_id')}"
            f" {failure.get('column') or failure.get('expectation')}"
            f" ({failure.get('unexpected_count')})"
            for failure in self.failures
        )


def rows_fingerprint(rows: pa.Table) -> str:
    """Hash the outbound rows (sorted), so export can prove it writes what passed."""
    sorted_rows = rows.sort_by([(name, "ascending") for name in rows.column_names])
    digest = hashlib.sha256()
    digest.update(json.dumps(rows.column_names).encode())
    for row in sorted_rows.to_pylist():
        digest.update(json.dumps(row, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def outbound_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    communication: Communication,
    *,
    with_person_key: bool = False,
) -> pa.Table:
    """Read exactly the rows and columns an export of `relation` would write.

    This is the one place that selects them: the segment's `is_included` decisions,
    with the declared export columns only. With `with_person_key`, the person key
    comes along as a last column, `_person_key`, read in the same query so that it
    lines up with the rows; it is never written to an audience file.
    """
    columns = ", ".join(f'"{name}"' for name in communication.export_columns)
    if with_person_key:
        columns += ", person_id as _person_key"
    return con.sql(
        f"select {columns} from {relation} where is_included"
    ).to_arrow_table()


def _list_sql(column: str) -> str:
    """Turn a ';A;B;' ledger list into a DuckDB list of upper-case items."""
    return (
        f"list_filter(list_transform(string_split(trim({column}, ';'), ';'),"
        " x -> upper(trim(x))), x -> x <> '')"
    )


def _email_key(column: str) -> str:
    """R-EMAIL-NORM: an address's opt-out match key (no +tag; no Gmail dots)."""
    value = f"lower(nfc_normalize(trim({column})))"
    local = f"split_part({value}, '@', 1)"
    domain = f"split_part({value}, '@', 2)"
    untagged = f"split_part({local}, '+', 1)"
    return (
        f"case when {value} is null or {value} = '' then null"
        f" when {domain} in ('gmail.com', 'googlemail.com')"
        f" then replace({untagged}, '.', '') || '@gmail.com'"
        f" else {untagged} || '@' || {domain} end"
    )


def _phone_key(column: str) -> str:
    """The last ten digits of a number: the key STOPs and bound numbers match on."""
    return f"nullif(right(regexp_replace({column}, '[^0-9]', '', 'g'), 10), '')"


@dataclass(frozen=True)
class _Purpose:
    code: str
    needs_authorization: bool
    is_commercial_email: bool
    is_adults_only: bool


def effective_purpose(
    con: duckdb.DuckDBPyConnection, communication: Communication
) -> _Purpose:
    """The purpose the rules judge: unknown codes and paid messages are marketing."""
    c = communication
    code = c.purpose_code.upper()
    if c.third_party_remuneration and code in {
        "TREATMENT",
        "CARE_COORD",
        "OWN_HEALTH_SERVICE",
    }:
        code = "MARKETING"  # R-MKT-EXC-TX
    if code == "REFILL" and c.third_party_remuneration and not c.remuneration_cost_only:
        code = "MARKETING"  # R-MKT-EXC-REFILL
    row = con.execute(
        "select needs_authorization, is_commercial_email, is_outreach_to_adults_only"
        " from rules.purpose_codes where upper(purpose_code) = $code",
        {"code": code},
    ).fetchone()
    if row is None:
        code = "MARKETING"  # RULES.md 1.6
        row = con.execute(
            "select needs_authorization, is_commercial_email,"
            " is_outreach_to_adults_only from rules.purpose_codes"
            " where purpose_code = 'MARKETING'"
        ).fetchone()
    if row is None:
        return _Purpose(code, True, True, True)
    return _Purpose(
        code,
        bool(row[0]) if row[0] is not None else True,
        bool(row[1]) if row[1] is not None else True,
        bool(row[2]) if row[2] is not None else code in ADULTS_ONLY_FALLBACK,
    )


@dataclass(frozen=True)
class RecipientStanding:
    """A recipient as the register has it at an instant (R-BAA)."""

    name: str
    kind: str
    own_use: bool
    note: str


def recipient_standing(
    con: duckdb.DuckDBPyConnection, name: str, channel: str, as_of: datetime
) -> RecipientStanding:
    """Read the register: is `name` the covered entity's own use at `as_of`?

    A business associate is, only while its BAA is in force (start date to the end of
    its end date) and lists the channel's service; an unregistered name is a third
    party.
    """
    row = con.execute(
        """
        select recipient_kind, baa_start_date, baa_end_date, baa_services
        from rules.recipient_register
        where lower(recipient) = lower($name)
        """,
        {"name": name},
    ).fetchone()
    if row is None:
        return RecipientStanding(name, "third_party", False, "not in the register")
    kind, start, end, services = row
    kind = str(kind or "third_party")
    if kind == "covered_entity":
        return RecipientStanding(name, kind, True, "the covered entity")
    if kind != "business_associate":
        return RecipientStanding(name, kind, False, f"registered as {kind}")
    service = CHANNEL_SERVICES.get(channel, f"{channel}_sending")
    offered = {
        s.strip().lower() for s in str(services or "").replace(";", ",").split(",")
    }
    day = as_of.date()
    if start is None or end is None or not (start <= day <= end):
        return RecipientStanding(
            name, "third_party", False, "business associate without a BAA in force"
        )
    if service not in offered:
        return RecipientStanding(
            name, "third_party", False, f"its BAA does not cover {service}"
        )
    return RecipientStanding(name, kind, True, f"BAA in force covering {service}")


def _categories(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[bool, bool, bool]]:
    rows = con.sql(
        "select lower(category), is_sensitive, is_psychotherapy_notes,"
        " is_fundraising_data from rules.data_categories"
    ).fetchall()
    return {name: (bool(s), bool(p), bool(f)) for name, s, p, f in rows}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def gate_frame(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    communication: Communication,
    as_of: datetime,
    *,
    recipients: tuple[str, ...] | None = None,
) -> pa.Table:
    """Derive, for each outbound row, one boolean per blocking rule from the ledger.

    Args:
        con: An open connection to the warehouse.
        relation: The table holding the decisions (`person_id`, `is_included` and
            the export columns).
        communication: The declared purpose, channel, topic, list and recipients.
        as_of: The instant the rules are judged at (UTC).
        recipients: Every destination of the file; the declared ones by default.

    Returns:
        `person_id` and the gate columns, one row per outbound row.
    """
    c = communication
    purpose = effective_purpose(con, c)
    recipients = tuple(dict.fromkeys(recipients or c.recipients))
    standings = [recipient_standing(con, r, c.channel, as_of) for r in recipients]
    categories = _categories(con)
    scope = c.info_scope
    known = [categories.get(name) for name in scope]
    # A category the seed does not know counts against the communication (1.1).
    uses_sensitive = any(k is None or k[0] for k in known)
    uses_psychotherapy = any(k is None or k[1] for k in known)
    uses_non_fundraising = any(k is None or not k[2] for k in known)
    uses_health_data = any(name not in NON_HEALTH_CATEGORIES for name in scope)
    contact = c.contact_column
    contact_sql = f'outbound."{contact}"' if contact in c.export_columns else "null"
    needs_pewc = c.channel == "sms" and purpose.code in {
        "MARKETING",
        "FUNDRAISING",
        "DISCLOSURE_FOR_REMUNERATION",
    }
    has_remuneration = c.third_party_remuneration or c.remuneration_for_phi
    remuneration_sql = (
        "and coalesce(a.is_remuneration_disclosed, false)" if has_remuneration else ""
    )
    # A single Part 2 consent for treatment, payment and operations covers treatment
    # and care coordination (42 CFR 2.33).
    tpo_sql = (
        "or list_contains(q.purpose_list, 'TPO')"
        if purpose.code in ("TREATMENT", "CARE_COORD")
        else ""
    )
    topic_purpose = (
        f"{purpose.code}:{c.marketing_topic}".upper() if c.marketing_topic else None
    )

    recipient_terms = []
    params: dict[str, Any] = {
        "as_of": as_of,
        "channel": c.channel.upper(),
        "purpose": purpose.code,
        "topic_purpose": topic_purpose,
        "list_id": c.list_id,
        "info_scope": [name.upper() for name in scope],
        "recipients": [r.upper() for r in recipients],
        "health_plan": any(s.kind == "health_plan" for s in standings),
    }
    for i, standing in enumerate(standings):
        params[f"r{i}"] = standing.name.upper()
        own_use = (
            " or list_contains(a.recipient_list, 'COVEREDENTITY')"
            if standing.own_use
            else ""
        )
        recipient_terms.append(
            f"(list_contains(a.recipient_list, $r{i})"
            f" or list_contains(a.employer_list, $r{i}){own_use})"
        )
    recipients_sql = " and ".join(recipient_terms) or "false"
    purpose_match = (
        "(list_contains(a.purpose_list, $purpose)"
        " or coalesce(list_contains(a.purpose_list, $topic_purpose), false))"
    )
    if c.channel == "email":
        contact_normalized = (
            f"{contact_sql} = lower(nfc_normalize(trim({contact_sql})))"
            f" and regexp_full_match({contact_sql}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')"
        )
        contact_key = f"lower(nfc_normalize(trim({contact_sql})))"
        contact_kind = "email"
    elif c.channel in {"sms", "phone"}:
        contact_normalized = (
            f"regexp_full_match(trim({contact_sql}), '[+0-9() .-]+')"
            f" and length({_phone_key(contact_sql)}) = 10"
        )
        contact_key = _phone_key(contact_sql)
        contact_kind = "mobile"
    else:
        contact_normalized = f"trim({contact_sql}) = {contact_sql}"
        contact_key = f"trim({contact_sql})"
        contact_kind = "postal"
    params["contact_kind"] = contact_kind

    needs_auth = purpose.needs_authorization

    def unless_valid(flag: str) -> str:
        # A defect fires only for people left without any valid authorization.
        if not needs_auth:
            return "true"
        return f"coalesce(af.has_valid, false) or not coalesce(af.{flag}, false)"

    contact_phone = _phone_key(contact_sql)
    email_key = _email_key(contact_sql)
    linked_email_keys = _email_key("cp.contact_value")
    suppression_sql = f"""not exists (
        select 1 from suppression_keys as s
        where s.person_id = outbound.person_id
           or s.email_key = {email_key}
           or s.email_key in (
               select {linked_email_keys} from contact_points as cp
               where cp.person_id = outbound.person_id and cp.contact_kind = 'email'
           )
    )"""
    stop_sql = f"""not exists (
        select 1 from stops
        where stops.phone_key = {contact_phone}
           or stops.phone_key in (
               select cp.contact_value from contact_points as cp
               where cp.person_id = outbound.person_id and cp.contact_kind = 'mobile'
           )
    )"""
    pewc_sql = f"""exists (
        select 1 from bound_numbers as b
        where b.person_id = outbound.person_id and b.bound_phone_key = {contact_phone}
    )"""
    on_file_sql = f"""exists (
        select 1 from contact_points as cp
        where cp.person_id = outbound.person_id
          and cp.contact_kind = $contact_kind
          and cp.contact_value = {contact_key}
    )"""
    of_age_sql = """coalesce(
        m.birth_date + to_years(m.majority_age::integer) + interval 12 hour <= $as_of,
        false
    )"""
    self_pay_to_plan = "true" if uses_health_data else "false"
    verdicts = {
        "gate_identity_verified": "coalesce(p.is_identity_verified, false)",
        "gate_authorization_ok": (
            "coalesce(af.has_valid, false)" if needs_auth else "true"
        ),
        "gate_auth_not_revoked": unless_valid("only_revoked"),
        "gate_auth_not_expired": unless_valid("only_expired"),
        "gate_auth_names_recipients": unless_valid("misses_recipient"),
        "gate_auth_form_valid": unless_valid("has_defect"),
        "gate_sms_consent_bound": pewc_sql if needs_pewc else "true",
        "gate_not_deceased": "not coalesce(p.deceased_known_at <= $as_of, false)",
        "gate_of_age": of_age_sql if purpose.is_adults_only else "true",
        "gate_not_restricted": (
            "rs.person_id is null and not (coalesce(fl.has_self_pay, false)"
            f" and $health_plan and {self_pay_to_plan})"
        ),
        "gate_part2_consented": (
            "not coalesce(fl.has_part2, false) or p2.person_id is not null"
            if uses_health_data
            else "true"
        ),
        "gate_no_sensitive_data": _bool(
            not (purpose.code in SENSITIVE_PURPOSES and uses_sensitive)
        ),
        "gate_no_psychotherapy_notes": _bool(not uses_psychotherapy),
        "gate_fundraising_data_only": _bool(
            not (purpose.code == "FUNDRAISING" and uses_non_fundraising)
        ),
        "gate_confidential_ok": (
            "cf.person_id is null or (cf.allows_channel"
            f" and list_contains(cf.alternatives, {contact_key}))"
        ),
        "gate_email_not_suppressed": (
            suppression_sql
            if c.channel == "email" and purpose.is_commercial_email
            else "true"
        ),
        "gate_sms_not_stopped": stop_sql if c.channel in ("sms", "phone") else "true",
        "gate_fundraising_not_opted_out": (
            "fo.person_id is null" if purpose.code == "FUNDRAISING" else "true"
        ),
        "gate_contact_present": f"nullif(trim({contact_sql}), '') is not null",
        "gate_contact_normalized": contact_normalized,
        "gate_contact_on_file": "true" if contact_kind == "postal" else on_file_sql,
    }
    verdict_sql = ",\n            ".join(
        f"{expression} as {name}" for name, expression in verdicts.items()
    )

    sql = f"""
    with
    outbound as (
        select * from {relation} where is_included
    ),
    persons as (
        select * from marts.dim_persons
    ),
    authorizations as (
        select
            a.*,
            {_list_sql("a.purposes")} as purpose_list,
            {_list_sql("a.recipients")} as recipient_list,
            {_list_sql("a.employer_recipients")} as employer_list,
            {_list_sql("a.channels")} as channel_list,
            {_list_sql("a.info_scope")} as scope_list,
            {_list_sql("a.regulations")} as regulation_list
        from marts.fct_authorizations as a
    ),
    -- A revocation counts from when it was received (RULES.md 1.3, 1.7).
    revocations as (
        select
            r.authorization_id,
            r.person_id,
            r.purpose_list,
            min(coalesce(r.revoked_at, r.known_at)) as received_at
        from authorizations as r
        where (r.revoked_at is not null or r.status = 'revoked')
          and coalesce(r.revoked_at, r.known_at) <= $as_of
        group by all
    ),
    representatives as (
        select * from marts.fct_personal_representatives
        where known_at <= $as_of
          and (superseded_at is null or superseded_at > $as_of)
          and representative_role is not null
    ),
    majority as (
        select
            p.person_id,
            p.birth_date,
            greatest(
                coalesce(ehr_age.majority_age, 18), coalesce(crm_age.majority_age, 18)
            ) as majority_age
        from persons as p
        left join rules.majority_ages as ehr_age on ehr_age.state = p.ehr_state
        left join rules.majority_ages as crm_age on crm_age.state = p.crm_state
    ),
    -- Every authorization version in force that covers the purpose, with each
    -- condition of R-MKT-AUTH as its own flag.
    candidates as (
        select
            a.person_id,
            a.authorization_id,
            list_contains(a.channel_list, $channel) as covers_channel,
            {recipients_sql} as covers_recipients,
            (list_contains(a.scope_list, 'ALL')
                or list_has_all(a.scope_list, $info_scope)) as covers_scope,
            (
                not a.is_deleted
                and a.status in ('signed', 'revoked')
                and a.signed_at is not null and a.signed_at <= $as_of
                and a.has_template
                and list_contains(a.regulation_list, 'HIPAA-164.508')
                and len(a.recipient_list) > 0
                and len(a.scope_list) > 0
                and nullif(trim(a.disclosers, '; '), '') is not null
                and (a.expires_at is not null or a.expiration_event is not null)
                and a.has_revocation_statement
                and a.has_conditioning_statement
                and a.has_redisclosure_statement
                and not a.is_compound
                and not a.is_conditioned_on_treatment
                and coalesce(a.signature_dated_at <= a.known_at, true)
                and (a.signature_method is distinct from 'esign'
                    or a.esign_evidence_id is not null)
                and a.signer_role is not null
                and (
                    (a.signer_role = 'self' and a.signer_related_person_id is null)
                    or (a.signer_role <> 'self' and a.signer_authority is not null
                        and exists (
                            select 1 from representatives as rep
                            where rep.related_person_id = a.signer_related_person_id
                              and rep.subject_person_id = a.person_id
                              and rep.representative_role = a.signer_role
                              and coalesce(rep.valid_from <= a.signed_at, true)
                              and coalesce(rep.valid_to > a.signed_at, true)
                        ))
                )
                and not (
                    a.signer_role in ('parent', 'guardian')
                    and coalesce(
                        m.birth_date + to_years(m.majority_age::integer)
                        - interval 14 hour <= $as_of,
                        true
                    )
                )
                {remuneration_sql}
            ) as form_valid,
            not (
                coalesce(a.expires_at <= $as_of, false)
                or coalesce(a.expiry_event_occurred_at <= $as_of, false)
            ) as unexpired,
            not exists (
                select 1 from revocations as r
                where r.authorization_id = a.authorization_id
                   or (
                       r.person_id = a.person_id
                       and a.signed_at < r.received_at
                       and (
                           list_contains(r.purpose_list, $purpose)
                           or coalesce(
                               list_contains(r.purpose_list, $topic_purpose), false)
                           or (list_contains(a.purpose_list, $purpose)
                               and len(list_filter(r.purpose_list,
                                   x -> x like $purpose || ':%')) > 0)
                       )
                   )
            ) as unrevoked,
            coalesce(a.has_not_condition_of_purchase, false) as states_no_condition,
            a.bound_phone_key
        from authorizations as a
        left join majority as m on m.person_id = a.person_id
        where a.known_at <= $as_of
          and (a.superseded_at is null or a.superseded_at > $as_of)
          and a.person_id is not null
          and a.match_method in ('mrn', 'verified_email')
          and {purpose_match}
    ),
    authorization_facts as (
        select
            person_id,
            bool_or(covers_channel and covers_recipients and covers_scope
                and form_valid and unexpired and unrevoked) as has_valid,
            bool_or(covers_channel and covers_recipients and covers_scope
                and form_valid and unexpired and not unrevoked) as only_revoked,
            bool_or(covers_channel and covers_recipients and covers_scope
                and form_valid and not unexpired) as only_expired,
            bool_or(covers_channel and not covers_recipients) as misses_recipient,
            bool_or(covers_channel and not form_valid) as has_defect
        from candidates
        group by person_id
    ),
    bound_numbers as (
        select distinct person_id, bound_phone_key
        from candidates
        where covers_channel and form_valid and unexpired and unrevoked
          and states_no_condition and bound_phone_key is not null
    ),
    requests as (
        select
            q.*,
            {_list_sql("q.purposes")} as purpose_list,
            {_list_sql("q.recipients")} as recipient_list,
            {_list_sql("q.channels")} as channel_list
        from marts.fct_privacy_requests as q
        where q.status = 'active' and q.known_at <= $as_of
          and (q.superseded_at is null or q.superseded_at > $as_of)
          and coalesce(q.period_start_at <= $as_of, true)
          and coalesce(q.period_end_at > $as_of, true)
    ),
    flags as (
        select
            person_id,
            bool_or(category = 'sud_part2') as has_part2,
            bool_or(category = 'self_pay') as has_self_pay
        from marts.fct_sensitive_flags
        where first_known_at <= $as_of
        group by person_id
    ),
    restricted as (
        select distinct q.person_id
        from requests as q
        where q.request_kind = 'restriction' and q.provision_type = 'deny'
          and (len(q.purpose_list) = 0 or list_contains(q.purpose_list, $purpose))
          and (len(q.recipient_list) = 0
              or list_has_any(q.recipient_list, $recipients))
    ),
    part2_consented as (
        select distinct q.person_id
        from requests as q
        where q.request_kind = 'part2-consent' and q.provision_type = 'permit'
          and (list_contains(q.purpose_list, $purpose)
              {tpo_sql})
          and (len(q.recipient_list) = 0
              or list_has_all(q.recipient_list, $recipients))
    ),
    confidential as (
        select
            q.person_id,
            bool_or(list_contains(q.channel_list, $channel)) as allows_channel,
            list(
                case
                    when $contact_kind = 'email' and q.alt_contact_system = 'email'
                        then lower(nfc_normalize(trim(q.alt_contact_value)))
                    when $contact_kind = 'mobile'
                        and q.alt_contact_system in ('sms', 'phone')
                        then {_phone_key("q.alt_contact_value")}
                    when $contact_kind = 'postal' and q.alt_contact_system = 'address'
                        then trim(q.alt_contact_value)
                end
            ) filter (where q.alt_contact_value is not null) as alternatives
        from requests as q
        where q.request_kind = 'confidential-communication'
        group by q.person_id
    ),
    contact_points as (
        select person_id, contact_kind, contact_value
        from marts.fct_contact_points
        where first_known_at <= $as_of
    ),
    suppression_keys as (
        select distinct person_id, {_email_key("email_norm")} as email_key
        from marts.fct_email_suppressions
        where suppressed_at <= $as_of
          and ($list_id is null or is_all_commercial or list_id = $list_id)
    ),
    stops as (
        select distinct phone_key
        from marts.fct_sms_revocations
        where revoked_at <= $as_of and phone_key is not null
    ),
    fundraising_out as (
        select distinct person_id from marts.fct_fundraising_optouts
        where opted_out_at <= $as_of
          and (opted_back_in_at is null or opted_back_in_at > $as_of)
    ),
    judged as (
        select
            outbound.person_id,
            {verdict_sql}
        from outbound
        left join persons as p on p.person_id = outbound.person_id
        left join majority as m on m.person_id = outbound.person_id
        left join authorization_facts as af on af.person_id = outbound.person_id
        left join restricted as rs on rs.person_id = outbound.person_id
        left join flags as fl on fl.person_id = outbound.person_id
        left join part2_consented as p2 on p2.person_id = outbound.person_id
        left join confidential as cf on cf.person_id = outbound.person_id
        left join fundraising_out as fo on fo.person_id = outbound.person_id
    )
    select
        person_id,
        {", ".join(f"coalesce({name}, false) as {name}" for name, _, _ in GATE_RULES)}
    from judged
    """
    # A null verdict would slip past a value-set expectation: it counts as a failure.
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


def validate(
    frame: pa.Table, suite: dict[str, Any], *, docs_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Run a suite over an Arrow frame with Great Expectations.

    Args:
        frame: The person keys and gate columns, nothing else.
        suite: The suite as `load_suite` reads it.
        docs_dir: Where to write the Data Docs (HTML) of this validation, if given.

    Returns:
        One entry per expectation: its type, column, rule id, success and the count
        of unexpected rows. No row values are kept, and none reach the Data Docs:
        the result format asks for no unexpected values at all.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions = []
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name="gate",
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
        actions.append(
            gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["gate"])
        )
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
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite['name']}.checkpoint",
            validation_definitions=[definition],
            actions=actions,
            result_format={
                "result_format": "BASIC",
                "partial_unexpected_count": 0,
                "include_unexpected_rows": False,
            },
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame.to_pandas()})
    checks = []
    for validation in run.run_results.values():
        for outcome in validation.results:
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


def _file_check(
    expectation: str, rule_id: str, failed: int, total: int, **extra: Any
) -> dict[str, Any]:
    return {
        "expectation": expectation,
        "column": None,
        "rule_id": rule_id,
        "success": failed == 0,
        "unexpected_count": failed,
        "element_count": total,
        **extra,
    }


def recipient_checks(
    con: duckdb.DuckDBPyConnection,
    communication: Communication,
    recipients: tuple[str, ...],
    as_of: datetime,
) -> list[dict[str, Any]]:
    """R-BAA, R-FUND-SCOPE: may this purpose go to each recipient at `as_of`?

    The covered entity and a business associate with a BAA in force covering the
    channel's service are its own use. Anyone else is a third party: a purpose that
    needs authorization may reach it only through authorizations naming it (the row
    check R-RECIP); fundraising only through an affiliated foundation; treatment and
    care coordination a health plan; nothing else.
    """
    purpose = effective_purpose(con, communication)
    refused = []
    standings = []
    for name in recipients:
        standing = recipient_standing(con, name, communication.channel, as_of)
        standings.append(
            {"recipient": name, "kind": standing.kind, "note": standing.note}
        )
        if standing.own_use or purpose.needs_authorization:
            continue
        if purpose.code == "FUNDRAISING" and standing.kind == "affiliated_foundation":
            continue
        if purpose.code in HEALTH_PLAN_PURPOSES and standing.kind == "health_plan":
            continue
        refused.append(name)
    fundraising_refused = []
    if purpose.code == "FUNDRAISING":
        fundraising_refused = [
            s["recipient"]
            for s in standings
            if s["kind"]
            not in {"covered_entity", "business_associate", "affiliated_foundation"}
        ]
    return [
        _file_check(
            "recipient_register_allows_disclosure",
            "R-BAA",
            len(refused),
            len(recipients),
            recipients=standings,
        ),
        _file_check(
            "fundraising_only_for_the_covered_entity",
            "R-FUND-SCOPE",
            len(fundraising_refused),
            len(recipients),
        ),
    ]


def decision_checks(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    outbound_count: int,
    as_of: datetime,
    stamp: BuildStamp,
) -> list[dict[str, Any]]:
    """R-GATE on the decisions as a whole: complete, counted, and not stale."""
    total, people, undecided, included, other_instants, versions = con.execute(
        f"""
        select
            count(*),
            count(distinct person_id),
            count(*) filter (where is_included is null or person_id is null),
            count(distinct person_id) filter (where is_included),
            count(*) filter (where segment_as_of is distinct from $as_of),
            list(distinct rule_set_version)
        from {relation}
        """,
        {"as_of": as_of},
    ).fetchone()
    checks = [
        _file_check("decisions_complete", "R-GATE", undecided, total),
        _file_check("one_decision_per_person", "R-GATE", total - people, total),
        _file_check(
            "row_count_matches_included_decisions",
            "R-GATE",
            abs(outbound_count - included),
            included,
        ),
        _file_check("decisions_made_at_as_of", "R-GATE", other_instants, total),
    ]
    if stamp.expected_rows is not None:
        checks.append(
            _file_check(
                "row_count_matches_preview",
                "R-GATE",
                abs(outbound_count - stamp.expected_rows),
                stamp.expected_rows,
            )
        )
    if stamp.rule_set_version is not None:
        stale_versions = [v for v in versions or [] if v != stamp.rule_set_version]
        checks.append(
            _file_check(
                "decided_by_the_current_rule_set",
                "R-GATE",
                len(stale_versions),
                len(versions or []),
            )
        )
    if stamp.built_at is not None:
        late = con.execute(
            "select count(*) from raw.load_log where loaded_at > $built",
            {"built": stamp.built_at},
        ).fetchone()[0]
        rebuilt = int(
            stamp.inputs_changed_at is not None
            and stamp.inputs_changed_at > stamp.built_at
        )
        checks.append(
            _file_check(
                "inputs_unchanged_since_build",
                "R-GATE",
                late + rebuilt,
                1,
                batches_loaded_since_build=late,
                ledger_rebuilt_since_build=bool(rebuilt),
            )
        )
    return checks


def _failing_keys(frame: pa.Table, column: str) -> list[str]:
    if column == "person_id":
        counts = pc.value_counts(frame["person_id"])
        return sorted(
            str(item["values"])
            for item in counts.to_pylist()
            if item["counts"] > 1 or item["values"] is None
        )[:MAX_PERSON_KEYS]
    mask = pc.invert(frame[column])
    return sorted(str(key) for key in frame.filter(mask)["person_id"].to_pylist())[
        :MAX_PERSON_KEYS
    ]


def run_gate(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    communication: Communication,
    as_of: datetime,
    *,
    allowed_columns: set[str],
    recipient: str | None = None,
    stamp: BuildStamp | None = None,
    suite_path: Path = SUITE_PATH,
    docs_dir: Path | None = None,
) -> GateResult:
    """Judge the rows an export of `relation` would write; any failure blocks it.

    Args:
        con: An open connection to the warehouse.
        relation: The table holding the segment's decisions.
        communication: What the segment declares.
        as_of: The instant the rules are judged at.
        allowed_columns: The minimum-necessary allow-list for the purpose and
            channel (R-MINNEC).
        recipient: Who receives this file, when not only the declared recipients.
        stamp: When and how the rows were built, for the stale-build checks.
        suite_path: The expectation suite file.
        docs_dir: Where to write the Data Docs of the validation.

    Returns:
        The gate result: passed only if every expectation and file check held.
    """
    stamp = stamp or BuildStamp()
    recipients = tuple(
        dict.fromkeys([*communication.recipients, *([recipient] if recipient else [])])
    )
    outbound = outbound_rows(con, relation, communication)
    frame = gate_frame(con, relation, communication, as_of, recipients=recipients)
    checks = validate(frame, load_suite(suite_path), docs_dir=docs_dir)
    extra = sorted(set(communication.export_columns) - allowed_columns)
    checks.append(
        _file_check(
            "export_columns_within_allow_list",
            "R-MINNEC",
            len(extra),
            len(communication.export_columns),
            unexpected_columns=extra,
        )
    )
    checks.extend(recipient_checks(con, communication, recipients, as_of))
    checks.extend(decision_checks(con, relation, outbound.num_rows, as_of, stamp))
    failures = []
    for check in checks:
        if check["success"]:
            continue
        failure = dict(check)
        if check["column"] in frame.column_names:
            failure["person_keys"] = _failing_keys(frame, check["column"])
        failures.append(failure)
    result = GateResult(
        segment=communication.segment,
        as_of=as_of.isoformat(),
        passed=not failures,
        row_count=outbound.num_rows,
        rows_fingerprint=rows_fingerprint(outbound),
        failures=failures,
        checks=checks,
        recipient=recipient or communication.recipients[0],
        context={
            "communication": communication.to_dict(),
            "recipients": list(recipients),
            "effective_purpose": effective_purpose(con, communication).code,
        },
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
        "where upper(purpose_code) = upper($purpose) and lower(channel) = $channel",
        {"purpose": communication.purpose_code, "channel": communication.channel},
    ).fetchall()
    return {row[0] for row in rows}
