"""Property tests of the consent ledger (issue "Consent ledger and eligibility"),
asked of the eligibility functions the build stores in the warehouse,
`marts.eligibility_at__<purpose>__<channel>(topic, list, recipient, as_of)`.

1. A stricter fact never adds anyone. A revocation, an email opt-out, a STOP, a
   fundraising opt-out, an agreed restriction or a date of death leaves every
   audience a subset of what it was. Until it is received it changes nothing; once
   received it excludes its person wherever its rule says so (RULES.md 1.3, 1.7).
2. Time does not revive an expired authorization. A person excluded at t1 only
   because every authorization expired (R-AUTH-EXP) is still excluded, by
   R-AUTH-EXP, at every later t2, unless a new authorization is signed in between.
3. A merge is as strict as the stricter record. When a second person's records are
   linked to an eligible person, every blocking rule that either record triggered
   still fires for the merged person (RULES.md 1.5, 1.7), an opt-out of the linked
   record's own address or number included.

Each test works on one private copy of the demo warehouse. Every example changes the
ledger inside a transaction, asks the functions and rolls back, so examples stay
independent. The verdicts of the unchanged ledger are read once per module.

Cases the properties found are pinned by plain tests at the end.
"""

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, note, settings
from hypothesis import strategies as st

from tests.conftest import DemoHome

pytestmark = pytest.mark.slow

CHANNELS = ("email", "sms", "phone", "mail")
RECIPIENT = "CoveredEntity"
TOPIC = "wellness-program"
DAY = 86_400
YEAR = 365 * DAY
# When a fact is received, in seconds from the build instant: just before, at or
# after it, any time in the year before, or (about one draw in four) after it.
OFFSETS = st.one_of(
    st.sampled_from([-1, 0, 1]),
    st.integers(-400 * DAY, -2),
    st.integers(-400 * DAY, -2),
    st.integers(-400 * DAY, -2),
    st.integers(2, 30 * DAY),
)
STOP_WORDS = ("STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE")
REVOCATIONS = ("revoked_at", "revoked_version", "second_authorization_revoked")
FACTS = (
    *REVOCATIONS,
    "email_optout",
    "sms_stop",
    "fundraising_optout",
    "restriction",
    "deceased",
)
# The rules a fact on any linked record triggers for the person (RULES.md 1.5).
BLOCKING_RULES = (
    "R-DECEASED",
    "R-EMAIL-OPTOUT",
    "R-SMS-STOP",
    "R-FUND-OPTOUT",
    "R-RESTRICT",
    "R-AUTH-REV",
)
EXPIRED_ONLY = ("R-MKT-AUTH", "R-AUTH-EXP")
# The phone_key macro (dbt_project/macros/digits_only.sql): the last ten digits.
PHONE_KEY = "nullif(right(regexp_replace(mobile_phone, '[^0-9]', '', 'g'), 10), '')"


def property_settings(max_examples: int) -> settings:
    # Each example asks the functions a few times (~50-100 ms each, mostly
    # planning), so examples are few, and the explain phase is skipped.
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


Verdict = tuple[bool, tuple[str, ...]]
Verdicts = dict[str, Verdict]


# ---------------------------------------------------------------- the ledger


@dataclass(frozen=True)
class Authorization:
    """One version of an authorization, as fct_authorizations holds it."""

    authorization_id: str
    person_id: str
    purposes: str
    regulations: str
    signed_at: datetime | None
    known_at: datetime
    superseded_at: datetime | None
    revoked_at: datetime | None
    status: str | None
    expires_at: datetime | None
    expiry_event_occurred_at: datetime | None

    def covers(self, purpose: str, topic: str | None) -> bool:
        """Whether it names the purpose, bare or narrowed to the topic (1.6)."""
        names = [f";{purpose};"] + ([f";{purpose}:{topic};".upper()] if topic else [])
        return any(name in self.purposes for name in names)

    def overlaps(self, purpose: str) -> bool:
        """Whether it names the purpose, bare or narrowed to any topic."""
        return f";{purpose};" in self.purposes or f";{purpose}:" in self.purposes

    def in_force(self, at: datetime) -> bool:
        return self.known_at <= at and (
            self.superseded_at is None or self.superseded_at > at
        )

    def revocation_received(self) -> datetime | None:
        """When the revocation this version records was received, if it has one."""
        if self.revoked_at is None and self.status != "revoked":
            return None
        return self.revoked_at or self.known_at

    def expiry(self) -> datetime | None:
        instants = [self.expires_at, self.expiry_event_occurred_at]
        return min((instant for instant in instants if instant), default=None)


@dataclass(repr=False)
class Ledger:
    """A connection to a private warehouse copy, and what the tests draw from."""

    con: duckdb.DuckDBPyConnection
    as_of: datetime
    persons: list[str]
    purposes: dict[str, tuple[bool, bool]]
    """Purpose code: (needs_authorization, is_commercial_email), from the seed."""
    list_ids: list[str]
    authorizations: list[Authorization]
    person_columns: list[tuple[str, str]]
    """(table, column) outside dim_persons that may hold a person_id."""
    baseline: dict[tuple, Verdicts]
    """Verdicts of the unchanged demo ledger at the build instant, shared."""
    changing: bool = False

    def __repr__(self) -> str:
        return f"Ledger(as_of={self.as_of.isoformat()}, {len(self.persons)} persons)"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        # How hypothesis prints a failing example; the default lists every field.
        printer.text(repr(self))

    def verdicts(
        self,
        purpose: str,
        channel: str,
        at: datetime,
        topic: str | None = None,
        list_id: str | None = None,
        person_id: str | None = None,
    ) -> Verdicts:
        function = f"marts.eligibility_at__{purpose.lower()}__{channel}"
        rows = self.con.execute(
            f"""
            select person_id, is_eligible, rules_fired
            from {function}($topic, $list_id, $recipient, cast($at as timestamptz))
            where $person_id is null or person_id = $person_id
            """,
            {
                "topic": topic,
                "list_id": list_id,
                "recipient": RECIPIENT,
                "at": at,
                "person_id": person_id,
            },
        ).fetchall()
        return {
            person: (eligible, tuple(rules.split(";")) if rules else ())
            for person, eligible, rules in rows
        }

    def before(
        self,
        purpose: str,
        channel: str,
        topic: str | None = None,
        list_id: str | None = None,
    ) -> Verdicts:
        """The verdicts of the unchanged ledger at the build instant."""
        key = (purpose, channel, topic, list_id)
        if key not in self.baseline:
            assert not self.changing, "baseline read on a changed ledger"
            self.baseline[key] = self.verdicts(
                purpose, channel, self.as_of, topic, list_id
            )
        return self.baseline[key]

    def versions_of(self, person_id: str) -> list[Authorization]:
        return [row for row in self.authorizations if row.person_id == person_id]

    def contact(self, person_id: str) -> tuple[str | None, str | None]:
        """The person's email address and phone key, as eligibility matches them."""
        return self.con.execute(
            f"""
            select email_norm, {PHONE_KEY}
            from marts.dim_persons where person_id = $person_id
            """,
            {"person_id": person_id},
        ).fetchone()

    @contextmanager
    def change(self) -> Iterator[None]:
        """A transaction that is always rolled back."""
        self.con.execute("begin transaction")
        self.changing = True
        try:
            yield
        finally:
            self.con.execute("rollback")
            self.changing = False


def open_ledger(warehouse: Path, baseline: dict[tuple, Verdicts]) -> Ledger:
    con = duckdb.connect(str(warehouse))
    as_of = con.sql("select max(as_of) from marts.eligibility").fetchone()[0]
    persons = [
        row[0]
        for row in con.sql(
            "select person_id from marts.dim_persons order by person_id"
        ).fetchall()
    ]
    purposes = {
        code: (bool(needs_authorization), bool(is_commercial_email))
        for code, needs_authorization, is_commercial_email in con.sql(
            """
            select purpose_code, needs_authorization, is_commercial_email
            from rules.purpose_codes order by purpose_code
            """
        ).fetchall()
    }
    functions = {
        row[0]
        for row in con.sql(
            """
            select function_name from duckdb_functions()
            where schema_name = 'marts' and function_name like 'eligibility_at__%'
            """
        ).fetchall()
    }
    expected = {
        f"eligibility_at__{purpose.lower()}__{channel}"
        for purpose in purposes
        for channel in CHANNELS
    }
    assert expected <= functions, sorted(expected - functions)
    list_ids = [
        row[0]
        for row in con.sql(
            """
            select distinct list_id from marts.fct_email_suppressions
            where list_id is not null order by 1
            """
        ).fetchall()
    ]
    authorizations = [
        Authorization(*row)
        for row in con.sql(
            """
            select
                authorization_id, person_id, purposes, regulations, signed_at,
                known_at, superseded_at, revoked_at, status, expires_at,
                expiry_event_occurred_at
            from marts.fct_authorizations
            where person_id is not null
            order by authorization_id, known_at
            """
        ).fetchall()
    ]
    person_columns = con.sql(
        """
        select columns.table_schema, columns.table_name, columns.column_name
        from information_schema.columns as columns
        inner join information_schema.tables as tables
            on
                columns.table_schema = tables.table_schema
                and columns.table_name = tables.table_name
        where
            columns.column_name like '%person_id'
            and tables.table_type = 'BASE TABLE'
            and columns.table_schema in ('marts', 'intermediate')
            and columns.table_name != 'dim_persons'
        order by all
        """
    ).fetchall()
    return Ledger(
        con,
        as_of,
        persons,
        purposes,
        list_ids,
        authorizations,
        [(f"{schema}.{table}", column) for schema, table, column in person_columns],
        baseline,
    )


@pytest.fixture(scope="module")
def baseline(demo_home: DemoHome) -> dict[tuple, Verdicts]:
    """One cache of unchanged verdicts for every copy of the one demo warehouse."""
    return {}


@pytest.fixture
def ledger(warehouse_copy: Path, baseline: dict[tuple, Verdicts]) -> Iterator[Ledger]:
    opened = open_ledger(warehouse_copy, baseline)
    try:
        yield opened
    finally:
        opened.con.close()


def eligible(verdicts: Verdicts) -> set[str]:
    return {person for person, (is_eligible, _) in verdicts.items() if is_eligible}


def _share_regulation(first: Authorization, second: Authorization) -> bool:
    regulations = set(first.regulations.strip(";").split(";"))
    return bool(regulations & set(second.regulations.strip(";").split(";")))


def _topics(authorization: Authorization, purpose: str) -> set[str | None]:
    """The topics of `purpose` it names; None stands for the bare purpose."""
    names = [name for name in authorization.purposes.split(";") if name]
    topics: set[str | None] = set()
    for name in names:
        code, _, topic = name.partition(":")
        if code == purpose:
            topics.add(topic or None)
    return topics


def _overlap(first: Authorization, second: Authorization, purpose: str) -> bool:
    """INPUTS.md: a bare purpose overlaps every topic of it; a topic only itself."""
    return any(
        one is None or other is None or one == other
        for one in _topics(first, purpose)
        for other in _topics(second, purpose)
    )


def reached_back(
    covering: list[Authorization],
    revocations: list[tuple[Authorization, datetime]],
    purpose: str,
) -> bool:
    """Whether revocations void every authorization that covers a communication.

    RULES.md 1.7: a revocation voids the authorization it is recorded on and every
    other one of the same regulation and an overlapping purpose signed before the
    revocation was received. With nothing covering, nothing is left to void.

    Args:
        covering: The versions in force that cover the communication.
        revocations: Versions that record a revocation, each with when the
            revocation was received.
        purpose: The communication's purpose code.
    """
    for authorization in covering:
        voided = any(
            revoked.authorization_id == authorization.authorization_id
            or (
                _overlap(revoked, authorization, purpose)
                and _share_regulation(revoked, authorization)
                and authorization.signed_at is not None
                and authorization.signed_at < received
            )
            for revoked, received in revocations
        )
        if not voided:
            return False
    return True


# ---------------------------------------------------------------- 1. stricter facts


@dataclass
class Fact:
    """A fact added to the ledger, and the communications it must block."""

    kind: str
    person_id: str
    received_at: datetime
    blocks: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(purpose, channel) the fact must exclude its person from once received, with
    the rule that must fire (None when only the exclusion is certain)."""


def add_fact(
    ledger: Ledger,
    data: st.DataObject,
    kind: str,
    asked_list_id: str | None,
    authorized: set[str],
) -> Fact:
    """Draw a fact of a kind, add it to the ledger and say what it must block.

    Args:
        ledger: The ledger, inside a transaction.
        data: Hypothesis' draws.
        kind: One of FACTS.
        asked_list_id: The email list the communications are asked for.
        authorized: Persons eligible, before, for a purpose that needs an
            authorization; a revocation is drawn among theirs half of the time.

    Returns:
        The fact.
    """
    con, as_of = ledger.con, ledger.as_of
    at = as_of + timedelta(seconds=data.draw(OFFSETS, label="received, s from as_of"))
    if kind in REVOCATIONS:
        current = [row for row in ledger.authorizations if row.superseded_at is None]
        theirs = [row for row in current if row.person_id in authorized]
        if theirs and data.draw(st.booleans(), label="of an authorized person"):
            current = theirs
        target = current[
            data.draw(st.integers(0, len(current) - 1), label="authorization index")
        ]
        return _add_revocation(ledger, data, kind, target, at)
    person_id = ledger.persons[
        data.draw(st.integers(0, len(ledger.persons) - 1), label="person index")
    ]
    fact = Fact(kind, person_id, at)
    email, phone_key = ledger.contact(person_id)
    if kind == "email_optout":
        # By person (a CRM flag) or by address only (an ESP unsubscribe), the
        # address as stored or a provider-equivalent +tag variant (R-EMAIL-NORM).
        by_person = email is None or data.draw(st.booleans(), label="by person")
        tagged = email is not None and data.draw(st.booleans(), label="+tag")
        list_id = data.draw(
            st.sampled_from([None, *ledger.list_ids, "list-elsewhere"]), label="list"
        )
        con.execute(
            """
            insert into marts.fct_email_suppressions by name
            select
                'prop-optout' as email_suppression_id,
                $person_id as person_id,
                $email as email_norm,
                $list_id as list_id,
                $list_id is null as is_all_commercial,
                'esp_unsubscribe' as suppression_source,
                cast($at as timestamptz) as suppressed_at
            """,
            {
                "person_id": person_id if by_person else None,
                "email": re.sub("@", "+news@", email, count=1) if tagged else email,
                "list_id": list_id,
                "at": at,
            },
        )
        if asked_list_id is None or list_id in (None, asked_list_id):
            for purpose, (_, is_commercial) in ledger.purposes.items():
                if is_commercial:
                    fact.blocks[(purpose, "email")] = "R-EMAIL-OPTOUT"
    elif kind == "sms_stop":
        con.execute(
            """
            insert into marts.fct_sms_revocations by name
            select
                'prop-stop' as sms_revocation_id,
                $phone_key as phone_key,
                $word as matched_keyword,
                cast($at as timestamptz) as revoked_at
            """,
            {
                "phone_key": phone_key,
                "word": data.draw(st.sampled_from(STOP_WORDS), label="word"),
                "at": at,
            },
        )
        if phone_key is not None:
            for purpose in ledger.purposes:
                fact.blocks[(purpose, "sms")] = "R-SMS-STOP"
    elif kind == "fundraising_optout":
        back_in_days = data.draw(
            st.none() | st.integers(1, 400), label="opted back in, days later"
        )
        back_in = None if back_in_days is None else at + timedelta(days=back_in_days)
        con.execute(
            """
            insert into marts.fct_fundraising_optouts by name
            select
                'prop-fundraising' as fundraising_optout_id,
                $person_id as person_id,
                cast($at as timestamptz) as opted_out_at,
                cast($back_in as timestamptz) as opted_back_in_at
            """,
            {"person_id": person_id, "at": at, "back_in": back_in},
        )
        if back_in is None or back_in > as_of:
            for channel in CHANNELS:
                fact.blocks[("FUNDRAISING", channel)] = "R-FUND-OPTOUT"
    elif kind == "restriction":
        restricted = data.draw(
            st.sampled_from([None, *ledger.purposes]), label="restricted purpose"
        )
        con.execute(
            """
            insert into marts.fct_privacy_requests by name
            select
                'prop-restriction' as consent_id,
                $person_id as person_id,
                'restriction' as request_kind,
                'active' as status,
                'deny' as provision_type,
                $purposes as purposes,
                ';' as channels,
                ';' as recipients,
                ';' as service_codes,
                cast($at as timestamptz) as known_at
            """,
            {
                "person_id": person_id,
                "purposes": ";" if restricted is None else f";{restricted};",
                "at": at,
            },
        )
        for purpose in ledger.purposes:
            if restricted in (None, purpose):
                for channel in CHANNELS:
                    fact.blocks[(purpose, channel)] = "R-RESTRICT"
    elif kind == "deceased":
        # Only ever earlier: a later date would take a fact away.
        con.execute(
            """
            update marts.dim_persons
            set deceased_known_at = cast($at as timestamptz)
            where
                person_id = $person_id
                and (deceased_known_at is null or deceased_known_at > $at)
            """,
            {"person_id": person_id, "at": at},
        )
        for purpose in ledger.purposes:
            for channel in CHANNELS:
                fact.blocks[(purpose, channel)] = "R-DECEASED"
    else:
        raise AssertionError(kind)
    return fact


def _add_revocation(
    ledger: Ledger,
    data: st.DataObject,
    kind: str,
    target: Authorization,
    at: datetime,
) -> Fact:
    con, as_of = ledger.con, ledger.as_of
    revoked = target
    if kind == "revoked_at":
        # revoked_at set on the current version, unless it was revoked earlier.
        con.execute(
            """
            update marts.fct_authorizations
            set revoked_at = cast($at as timestamptz)
            where
                authorization_id = $id
                and superseded_at is null
                and (
                    revoked_at > $at
                    or revoked_at is null and status is distinct from 'revoked'
                )
            """,
            {"id": target.authorization_id, "at": at},
        )
        received = min(at, target.revocation_received() or at)
    elif kind == "revoked_version":
        # A new version with status revoked, as the CRM sends one; the revocation
        # counts from revoked_at, or from when the version arrived without one.
        dated = data.draw(st.booleans(), label="revocation dated")
        known_at = max(at, target.known_at)
        row_id = con.execute(
            """
            select rowid from marts.fct_authorizations
            where authorization_id = $id and superseded_at is null
            """,
            {"id": target.authorization_id},
        ).fetchone()[0]
        con.execute(
            """
            insert into marts.fct_authorizations
            select * replace (
                'revoked' as status,
                cast($revoked_at as timestamptz) as revoked_at,
                cast($known_at as timestamptz) as known_at,
                cast(null as timestamptz) as superseded_at
            )
            from marts.fct_authorizations
            where rowid = $row_id
            """,
            {
                "row_id": row_id,
                "revoked_at": at if dated else None,
                "known_at": known_at,
            },
        )
        con.execute(
            """
            update marts.fct_authorizations
            set superseded_at = cast($known_at as timestamptz)
            where rowid = $row_id
            """,
            {"row_id": row_id, "known_at": known_at},
        )
        received = at if dated else known_at
        if target.revocation_received() is not None:
            received = min(received, target.revocation_received())
    else:
        # The person revokes another authorization, signed the day before.
        purposes = sorted({row.purposes for row in ledger.authorizations})
        revoked = dataclasses.replace(
            target,
            authorization_id="prop-second-authorization",
            purposes=data.draw(st.sampled_from(purposes), label="its purposes"),
            signed_at=at - timedelta(days=1),
            known_at=at,
            superseded_at=None,
            revoked_at=at,
            status="revoked",
        )
        con.execute(
            """
            insert into marts.fct_authorizations
            select * replace (
                $new_id as authorization_id,
                $purposes as purposes,
                'revoked' as status,
                cast($signed_at as timestamptz) as signed_at,
                cast($signed_at as timestamptz) as signature_dated_at,
                cast($at as timestamptz) as revoked_at,
                cast($at as timestamptz) as known_at,
                cast(null as timestamptz) as superseded_at
            )
            from marts.fct_authorizations
            where authorization_id = $id and superseded_at is null
            """,
            {
                "new_id": revoked.authorization_id,
                "id": target.authorization_id,
                "purposes": revoked.purposes,
                "signed_at": revoked.signed_at,
                "at": at,
            },
        )
        received = at
    note(f"revoked {revoked}")
    fact = Fact(kind, target.person_id, received)
    in_force = [
        row for row in ledger.versions_of(target.person_id) if row.in_force(as_of)
    ]
    for purpose, (needs_authorization, _) in ledger.purposes.items():
        covering = [row for row in in_force if row.covers(purpose, None)]
        if needs_authorization and reached_back(
            covering, [(revoked, received)], purpose
        ):
            for channel in CHANNELS:
                fact.blocks[(purpose, channel)] = "R-AUTH-REV" if covering else None
    return fact


@pytest.mark.parametrize("kind", FACTS)
@property_settings(max_examples=4)
@given(data=st.data())
def test_a_stricter_fact_never_adds_anyone_to_an_audience(
    ledger: Ledger, kind: str, data: st.DataObject
):
    if kind == "email_optout":
        channel = "email"
    elif kind == "sms_stop":
        channel = "sms"
    else:
        channel = data.draw(st.sampled_from(CHANNELS), label="channel")
    list_id = (
        data.draw(st.sampled_from([None, *ledger.list_ids]), label="asked for list")
        if channel == "email"
        else None
    )
    before = {
        purpose: ledger.before(purpose, channel, list_id=list_id)
        for purpose in ledger.purposes
    }
    authorized = {
        person_id
        for purpose, (needs_authorization, _) in ledger.purposes.items()
        if needs_authorization
        for person_id in eligible(before[purpose])
    }
    with ledger.change():
        fact = add_fact(ledger, data, kind, list_id, authorized)
        note(f"{fact.kind} for {fact.person_id}, received {fact.received_at}")
        after = {
            purpose: ledger.verdicts(purpose, channel, ledger.as_of, list_id=list_id)
            for purpose in ledger.purposes
        }
    received = fact.received_at <= ledger.as_of
    event(f"received by the instant: {received}")
    for purpose in ledger.purposes:
        added = eligible(after[purpose]) - eligible(before[purpose])
        assert not added, f"{purpose} {channel}: {kind} added {sorted(added)}"
        if not received:
            assert after[purpose] == before[purpose], (
                f"{purpose} {channel}: a {kind} not yet received changed a verdict"
            )
        elif (purpose, channel) in fact.blocks:
            is_eligible, rules = after[purpose][fact.person_id]
            rule = fact.blocks[(purpose, channel)]
            assert not is_eligible, f"{purpose} {channel}: {kind} did not exclude"
            assert rule is None or rule in rules, (purpose, channel, rules)
            if before[purpose][fact.person_id][0]:
                event("excluded someone who was eligible")


# ---------------------------------------------------------------- 2. expiry


def _horizon(versions: list[Authorization]) -> datetime | None:
    """When every version has expired and is known, or None if one never expires."""
    instants = []
    for version in versions:
        if version.expiry() is None:
            return None
        instants += [version.expiry(), version.known_at, version.signed_at]
        instants += [version.revoked_at, version.superseded_at]
    return max(instant for instant in instants if instant)


def expiring_persons(ledger: Ledger, channel: str) -> list[str]:
    """Persons whose authorizations all expire, excluded by R-AUTH-EXP alone after.

    Read once per channel at an instant after every one of them has expired; each
    example checks the precondition again at its own t1.
    """
    key = ("expiring", channel)
    if key not in ledger.baseline:
        horizons = {
            person: _horizon(ledger.versions_of(person))
            for person in sorted({row.person_id for row in ledger.authorizations})
        }
        horizons = {person: at for person, at in horizons.items() if at}
        later = max(horizons.values()) + timedelta(days=1)
        verdicts = ledger.verdicts("MARKETING", channel, later)
        ledger.baseline[key] = [
            person for person in horizons if verdicts[person][1] == EXPIRED_ONLY
        ]
    return ledger.baseline[key]


@property_settings(max_examples=30)
@given(data=st.data())
def test_an_expired_authorization_stays_expired_as_time_moves_on(
    ledger: Ledger, data: st.DataObject
):
    channels = [channel for channel in CHANNELS if expiring_persons(ledger, channel)]
    assert channels, "no person whose only authorizations expire"
    channel = data.draw(st.sampled_from(channels), label="channel")
    candidates = expiring_persons(ledger, channel)
    person_id = candidates[
        data.draw(st.integers(0, len(candidates) - 1), label="person index")
    ]
    versions = ledger.versions_of(person_id)
    with ledger.change():
        days_early = data.draw(
            st.none() | st.integers(0, 700), label="expiry event, days before expiry"
        )
        if days_early is not None:
            ledger.con.execute(
                """
                update marts.fct_authorizations
                set
                    expiration_event = coalesce(expiration_event, 'End of program'),
                    expiry_event_occurred_at = expires_at - to_days($days)
                where person_id = $person_id
                """,
                {"person_id": person_id, "days": days_early},
            )
            versions = [
                dataclasses.replace(
                    version,
                    expiry_event_occurred_at=version.expires_at
                    - timedelta(days=days_early),
                )
                for version in versions
            ]
        t1 = _horizon(versions) + timedelta(
            seconds=data.draw(
                st.just(0) | st.integers(0, 3 * YEAR), label="t1 - horizon"
            )
        )
        t2 = t1 + timedelta(seconds=data.draw(st.integers(1, 5 * YEAR), label="t2-t1"))
        renewal = data.draw(
            st.none() | st.tuples(st.integers(1, 5 * YEAR), st.integers(DAY, 4 * YEAR)),
            label="new authorization: signed s after t1, lasting s",
        )
        if renewal is not None:
            signed_at = t1 + timedelta(seconds=renewal[0])
            expires_at = signed_at + timedelta(seconds=renewal[1])
            ledger.con.execute(
                """
                insert into marts.fct_authorizations
                select * replace (
                    'prop-renewal' as authorization_id,
                    'signed' as status,
                    cast($signed_at as timestamptz) as signed_at,
                    cast($signed_at as timestamptz) as signature_dated_at,
                    cast($signed_at as timestamptz) as known_at,
                    cast($expires_at as timestamptz) as expires_at,
                    cast(null as timestamptz) as expiry_event_occurred_at,
                    cast(null as timestamptz) as revoked_at,
                    cast(null as timestamptz) as superseded_at
                )
                from marts.fct_authorizations
                where person_id = $person_id
                order by known_at desc
                limit 1
                """,
                {
                    "person_id": person_id,
                    "signed_at": signed_at,
                    "expires_at": expires_at,
                },
            )
        note(f"{person_id} MARKETING {channel}: t1 {t1}, t2 {t2}")
        at_t1 = ledger.verdicts("MARKETING", channel, t1, person_id=person_id)
        assume(at_t1[person_id][1] == EXPIRED_ONLY)
        at_t2 = ledger.verdicts("MARKETING", channel, t2, person_id=person_id)
    is_eligible, rules = at_t2[person_id]
    renewed = renewal is not None and signed_at <= t2 < expires_at
    event(f"renewed in between: {renewed}, eligible at t2: {is_eligible}")
    if not renewed:
        assert not is_eligible, "an expired authorization came back"
        assert "R-AUTH-EXP" in rules, rules


# ---------------------------------------------------------------- 3. merges


def merge(ledger: Ledger, person_id: str, linked_id: str) -> None:
    """Link every record of `linked_id` to `person_id`, as the models would.

    Facts keyed by person move to the person. dim_persons keeps the person's
    contact points (its EHR record wins) and merges the rest most-restrictively, as
    dim_persons.sql does: the earliest death, the latest birth date, either state.
    Facts keyed by an address or a number stay with that address or number.
    """
    keys = {"person_id": person_id, "linked_id": linked_id}
    for table, column in ledger.person_columns:
        ledger.con.execute(
            f"update {table} set {column} = $person_id where {column} = $linked_id",
            keys,
        )
    ledger.con.execute(
        """
        update marts.dim_persons as persons
        set
            birth_date = merged.birth_date,
            ehr_state = merged.ehr_state,
            crm_state = merged.crm_state,
            residence_state = coalesce(merged.ehr_state, merged.crm_state),
            is_identity_verified = merged.is_identity_verified,
            has_ehr_record = merged.has_ehr_record,
            has_crm_record = merged.has_crm_record,
            deceased_known_at = merged.deceased_known_at
        from (
            select
                max(birth_date) as birth_date,
                max(ehr_state) as ehr_state,
                max(crm_state) as crm_state,
                bool_or(is_identity_verified) as is_identity_verified,
                bool_or(has_ehr_record) as has_ehr_record,
                bool_or(has_crm_record) as has_crm_record,
                min(deceased_known_at) as deceased_known_at
            from marts.dim_persons
            where person_id in ($person_id, $linked_id)
        ) as merged
        where persons.person_id = $person_id
        """,
        keys,
    )
    ledger.con.execute(
        "delete from marts.dim_persons where person_id = $linked_id",
        {"linked_id": linked_id},
    )


def merged_rules(
    ledger: Ledger,
    purpose: str,
    topic: str | None,
    person: tuple[str, Verdict],
    linked: tuple[str, Verdict],
) -> set[str]:
    """The blocking rules the merged person must still trigger.

    Every blocking rule of the linked record, an opt-out that reached it only
    through its own address or number included, and of the person but R-AUTH-REV
    (the linked record may bring a later authorization, which stands).

    Args:
        ledger: The unchanged ledger.
        purpose: The communication's purpose.
        topic: The communication's marketing topic.
        person: The person the records are linked to, with its verdict.
        linked: The linked record's person, with its verdict.

    Returns:
        Rule ids.
    """
    (person_id, (_, person_rules)), (linked_id, (_, linked_rules)) = person, linked
    expected = set(person_rules) & (set(BLOCKING_RULES) - {"R-AUTH-REV"})
    for rule in set(linked_rules) & set(BLOCKING_RULES):
        if rule == "R-AUTH-REV":
            versions = ledger.versions_of(person_id) + ledger.versions_of(linked_id)
            covering = [
                row
                for row in versions
                if row.in_force(ledger.as_of) and row.covers(purpose, topic)
            ]
            revocations = [
                (row, row.revocation_received())
                for row in versions
                if row.revocation_received() is not None
                and row.revocation_received() <= ledger.as_of
            ]
            if not reached_back(covering, revocations, purpose):
                continue
        expected.add(rule)
    return expected


@property_settings(max_examples=30)
@given(data=st.data())
def test_a_merged_person_is_as_strict_as_the_stricter_record(
    ledger: Ledger, data: st.DataObject
):
    rule = data.draw(st.sampled_from(BLOCKING_RULES), label="linked record's rule")
    channel = {"R-EMAIL-OPTOUT": "email", "R-SMS-STOP": "sms"}.get(rule) or (
        data.draw(st.sampled_from(CHANNELS), label="channel")
    )
    topic = data.draw(st.sampled_from([None, TOPIC]), label="topic")
    list_id = (
        data.draw(st.sampled_from([None, *ledger.list_ids[:1]]), label="list")
        if channel == "email"
        else None
    )
    before = {
        purpose: ledger.before(purpose, channel, topic, list_id)
        for purpose in ledger.purposes
    }
    blocked = [
        (purpose, linked_id)
        for purpose, verdicts in before.items()
        if eligible(verdicts)
        for linked_id, (_, rules) in sorted(verdicts.items())
        if rule in rules
    ]
    assume(blocked)
    purpose, linked_id = blocked[
        data.draw(st.integers(0, len(blocked) - 1), label="linked record index")
    ]
    candidates = sorted(eligible(before[purpose]) - {linked_id})
    person_id = candidates[
        data.draw(st.integers(0, len(candidates) - 1), label="person index")
    ]
    note(f"{linked_id} ({rule} on {purpose} {channel}) linked to {person_id}")
    expected = {
        purpose: merged_rules(
            ledger,
            purpose,
            topic,
            (person_id, before[purpose][person_id]),
            (linked_id, before[purpose][linked_id]),
        )
        for purpose in ledger.purposes
    }
    with ledger.change():
        merge(ledger, person_id, linked_id)
        # Only where a rule must fire: asking costs ~50-100 ms a function.
        after = {
            purpose: ledger.verdicts(
                purpose, channel, ledger.as_of, topic, list_id, person_id
            )[person_id]
            for purpose, rules in expected.items()
            if rules
        }
    for purpose, (is_eligible, rules) in after.items():
        missing = expected[purpose] - set(rules)
        assert not missing, f"{purpose} {channel}: the merged person lost {missing}"
        assert not is_eligible, f"{purpose} {channel}: the merged person is eligible"


# ---------------------------------------------------------------- cases found


@pytest.mark.parametrize(
    ("revoked_purposes", "kept_purposes"),
    [
        (";MARKETING:WELLNESS-PROGRAM;", ";MARKETING:WELLNESS-PROGRAM;"),
        (";MARKETING;", ";MARKETING:WELLNESS-PROGRAM;"),
        (";MARKETING:WELLNESS-PROGRAM;", ";MARKETING;"),
    ],
)
def test_a_revocation_reaches_back_across_topics(
    ledger: Ledger, revoked_purposes: str, kept_purposes: str
):
    """Found by the first and third properties without their carve-out."""
    verdicts = ledger.before("MARKETING", "email", TOPIC)
    kept = next(
        row
        for row in ledger.authorizations
        if row.in_force(ledger.as_of)
        and row.purposes == kept_purposes
        and verdicts[row.person_id][0]
        and len(ledger.versions_of(row.person_id)) == 1
    )
    received = ledger.as_of - timedelta(seconds=1)
    if not kept.signed_at < received - timedelta(days=1):
        pytest.fail("the kept authorization is not older than the revoked one")
    with ledger.change():
        # The person signed a second form the day before and revoked it.
        ledger.con.execute(
            """
            insert into marts.fct_authorizations
            select * replace (
                'revoked-second-form' as authorization_id,
                $purposes as purposes,
                'revoked' as status,
                cast($signed_at as timestamptz) as signed_at,
                cast($signed_at as timestamptz) as signature_dated_at,
                cast($received as timestamptz) as revoked_at,
                cast($received as timestamptz) as known_at
            )
            from marts.fct_authorizations
            where authorization_id = $id
            """,
            {
                "id": kept.authorization_id,
                "purposes": revoked_purposes,
                "signed_at": received - timedelta(days=1),
                "received": received,
            },
        )
        is_eligible, rules = ledger.verdicts(
            "MARKETING", "email", ledger.as_of, TOPIC, person_id=kept.person_id
        )[kept.person_id]
    assert not is_eligible, f"still eligible: {rules}"
    assert "R-AUTH-REV" in rules, f"R-AUTH-REV did not fire: {rules}"


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_an_opt_out_on_a_linked_records_contact_point(ledger: Ledger, channel: str):
    """Found by the third property (R-SMS-STOP); RULES.md 1.5 applies it to the
    person whose records are linked, whichever number or address texts would use."""
    verdicts = ledger.before("HEALTH_ED", channel)
    person_id, linked_id = sorted(eligible(verdicts))[:2]
    person_email, person_phone = ledger.contact(person_id)
    linked_email, linked_phone = ledger.contact(linked_id)
    if person_email == linked_email or person_phone == linked_phone:
        pytest.fail("the two persons share a contact point")
    rule = {"sms": "R-SMS-STOP", "email": "R-EMAIL-OPTOUT"}[channel]
    received = ledger.as_of - timedelta(seconds=1)
    with ledger.change():
        if channel == "sms":
            # A STOP from the number on the linked CRM contact.
            ledger.con.execute(
                """
                insert into marts.fct_sms_revocations by name
                select
                    'stop-linked' as sms_revocation_id,
                    $phone_key as phone_key,
                    'STOP' as matched_keyword,
                    cast($received as timestamptz) as revoked_at
                """,
                {"phone_key": linked_phone, "received": received},
            )
        else:
            # An ESP unsubscribe of the linked contact's address, with no contact id.
            ledger.con.execute(
                """
                insert into marts.fct_email_suppressions by name
                select
                    'optout-linked' as email_suppression_id,
                    $email as email_norm,
                    true as is_all_commercial,
                    'esp_unsubscribe' as suppression_source,
                    cast($received as timestamptz) as suppressed_at
                """,
                {"email": linked_email, "received": received},
            )
        _, linked_rules = ledger.verdicts(
            "HEALTH_ED", channel, ledger.as_of, person_id=linked_id
        )[linked_id]
        if rule not in linked_rules:
            pytest.fail(f"the opt-out does not exclude the linked record: {rule}")
        merge(ledger, person_id, linked_id)
        is_eligible, rules = ledger.verdicts(
            "HEALTH_ED", channel, ledger.as_of, person_id=person_id
        )[person_id]
    assert not is_eligible, f"the merged person is eligible: {rules}"
    assert rule in rules, f"{rule} did not fire: {rules}"
