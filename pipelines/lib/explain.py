"""Explain one person's verdict for one communication at one instant.

The verdict comes from the warehouse's eligibility functions of an instant (DuckDB
table macros that dbt stores from the `eligibility` macro), the same logic the
eligibility model and the segments run: nothing here decides who may be contacted.
This module finds the person, calls the function and lists, for each rule that
fired, the ledger records behind it by id and date. It opens the warehouse read-only
and prints no contact details or other free-text PHI.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb

logger = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "phone", "mail")
DEFAULT_RECIPIENT = "CoveredEntity"

# The ledger records an auditor reads beside each family of rules: (title, SQL
# over the person's id as $person). Ids, codes and dates only.
_AUTHORIZATIONS = (
    "authorizations",
    """
    select authorization_id, status, purposes, channels, recipients, match_method,
        signed_at, expires_at, expiry_event_occurred_at, revoked_at, known_at,
        superseded_at
    from marts.fct_authorizations
    where person_id = $person
    order by known_at, authorization_id
    """,
)
_EVIDENCE: dict[str, tuple[str, str]] = {
    "R-EMAIL-OPTOUT": (
        "email suppressions",
        """
        select email_suppression_id, suppression_source, list_id, is_all_commercial,
            suppressed_at
        from marts.fct_email_suppressions
        where person_id = $person
            or email_norm = (
                select email_norm from marts.dim_persons where person_id = $person
            )
            or email_norm in (
                select contact_value from marts.fct_contact_points
                where person_id = $person and contact_kind = 'email'
            )
        order by suppressed_at, email_suppression_id
        """,
    ),
    "R-SMS-STOP": (
        "text revocations",
        """
        select sms_revocation_id, matched_keyword, revoked_at
        from marts.fct_sms_revocations
        where phone_key = (
            select right(regexp_replace(mobile_phone, '[^0-9]', '', 'g'), 10)
            from marts.dim_persons where person_id = $person
        )
            or phone_key in (
                select contact_value from marts.fct_contact_points
                where person_id = $person and contact_kind = 'mobile'
            )
        order by revoked_at, sms_revocation_id
        """,
    ),
    "R-FUND-OPTOUT": (
        "fundraising opt-outs",
        """
        select fundraising_optout_id, opted_out_at, opted_back_in_at
        from marts.fct_fundraising_optouts
        where person_id = $person
        order by opted_out_at, fundraising_optout_id
        """,
    ),
    "R-MKT-EXC-REFILL": (
        "medication requests",
        """
        select medication_request_id, medication_request_status, validity_end_at,
            known_at, superseded_at
        from marts.fct_medication_requests
        where person_id = $person
        order by known_at, medication_request_id
        """,
    ),
    "R-DECEASED": (
        "death on file",
        """
        select person_id, deceased_known_at
        from marts.dim_persons
        where person_id = $person
        """,
    ),
    "R-MINOR": (
        "state of residence on file",
        """
        select person_id, ehr_state, crm_state
        from marts.dim_persons
        where person_id = $person
        """,
    ),
}
_PRIVACY_REQUESTS = (
    "privacy requests",
    """
    select consent_id, request_kind, status, provision_type, purposes, channels,
        recipients, period_start_at, period_end_at, known_at, superseded_at
    from marts.fct_privacy_requests
    where person_id = $person
    order by known_at, consent_id
    """,
)
for _rule in ("R-RESTRICT", "R-CONFCOMM"):
    _EVIDENCE[_rule] = _PRIVACY_REQUESTS
for _rule in (
    "SEM-IDENTITY",
    "R-MKT-AUTH",
    "R-AUTH-CORE",
    "R-AUTH-STMT",
    "R-AUTH-EXP",
    "R-AUTH-REV",
    "R-AUTH-FALSE",
    "R-AUTH-COMPOUND",
    "R-AUTH-COND",
    "R-AUTH-SIGNER",
    "R-AUTH-E-SIGN",
    "R-RECIP",
):
    _EVIDENCE[_rule] = _AUTHORIZATIONS


class ExplainError(Exception):
    """The question cannot be answered: no such person, or no functions yet."""


@dataclass
class RuleFired:
    """One rule that fired, with its registry entry and the records behind it."""

    rule_id: str
    summary: str
    citation: str
    records: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Decision:
    """The verdict for one person, communication and instant."""

    person: str
    purpose: str
    evaluated_as: str
    channel: str
    recipient: str
    marketing_topic: str | None
    list_id: str | None
    as_of: str
    eligible: bool
    rules: list[str]
    rule_set_version: str
    trail: list[RuleFired]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return asdict(self)


def find_person(
    con: duckdb.DuckDBPyConnection,
    *,
    person: str | None = None,
    mrn: str | None = None,
    email: str | None = None,
) -> str:
    """Return the person id for exactly one of a person key, an MRN or an email.

    Raises:
        ExplainError: Nobody matches, or an address is shared by several people.
    """
    if person is not None:
        sql, value, what = (
            "select person_id from marts.dim_persons where person_id = ?",
            person,
            "person key",
        )
    elif mrn is not None:
        sql, value, what = (
            "select distinct person_id from intermediate.int_source_records_linked"
            " where mrn = ?",
            mrn.strip(),
            "MRN",
        )
    elif email is not None:
        sql, value, what = (
            "select person_id from marts.dim_persons where email_norm = ?",
            email.strip().lower(),
            "email address",
        )
    else:
        msg = "name the person with --person, --mrn or --email"
        raise ExplainError(msg)
    found = [row[0] for row in con.execute(sql, [value]).fetchall()]
    if not found:
        msg = f"no person with that {what} in the warehouse"
        raise ExplainError(msg)
    if len(found) > 1:
        msg = f"{len(found)} people share that {what}; name one with --person"
        raise ExplainError(msg)
    return found[0]


def explain(
    con: duckdb.DuckDBPyConnection,
    person_id: str,
    *,
    purpose: str,
    channel: str,
    as_of: datetime,
    recipient: str = DEFAULT_RECIPIENT,
    marketing_topic: str | None = None,
    list_id: str | None = None,
) -> Decision:
    """Ask the warehouse's eligibility function about one person.

    An unknown purpose is evaluated as MARKETING (RULES.md 1.6).

    Raises:
        ExplainError: The channel is unknown, or the warehouse has no eligibility
            functions (it was built before they existed: run `clearlist build`).
        ValueError: `as_of` has no time zone.
    """
    if as_of.tzinfo is None:
        msg = "as_of must carry a time zone"
        raise ValueError(msg)
    channel = channel.lower()
    if channel not in CHANNELS:
        msg = f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}"
        raise ExplainError(msg)
    requested = purpose.upper()
    known = {
        row[0]
        for row in con.sql("select purpose_code from rules.purpose_codes").fetchall()
    }
    evaluated_as = requested if requested in known else "MARKETING"
    function = f"marts.eligibility_at__{evaluated_as.lower()}__{channel}"
    try:
        row = con.execute(
            f"""
            select is_eligible, rules_fired, rule_set_version
            from {function}(?, ?, ?, cast(? as timestamptz))
            where person_id = ?
            """,
            [marketing_topic, list_id, recipient, as_of.isoformat(), person_id],
        ).fetchone()
    except duckdb.CatalogException:
        msg = (
            f"the warehouse has no function {function}; run `clearlist build` to"
            " store the eligibility functions"
        )
        raise ExplainError(msg) from None
    if row is None:
        msg = "the person is not in the eligibility ledger; run `clearlist build`"
        raise ExplainError(msg)
    eligible, rules_fired, version = row
    rules = [rule for rule in rules_fired.split(";") if rule]
    return Decision(
        person=person_id,
        purpose=requested,
        evaluated_as=evaluated_as,
        channel=channel,
        recipient=recipient,
        marketing_topic=marketing_topic,
        list_id=list_id,
        as_of=as_of.isoformat(),
        eligible=bool(eligible),
        rules=rules,
        rule_set_version=version,
        trail=[_rule_fired(con, rule, person_id) for rule in rules],
    )


def _rule_fired(con: duckdb.DuckDBPyConnection, rule: str, person_id: str) -> RuleFired:
    registry = con.execute(
        "select summary, citation from rules.rule_registry where rule_id = ?", [rule]
    ).fetchone()
    summary, citation = registry if registry else ("(not in the rule registry)", "")
    title, sql = _EVIDENCE.get(rule, ("", ""))
    evidence = []
    if sql:
        relation = con.execute(sql, {"person": person_id})
        names = [column[0] for column in relation.description]
        evidence = [
            {name: _plain(value) for name, value in zip(names, values, strict=True)}
            for values in relation.fetchall()
        ]
    return RuleFired(rule, summary, citation, title, evidence)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
