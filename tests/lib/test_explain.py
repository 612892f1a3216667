"""`clearlist explain`: the stored eligibility functions answer like the model, for
any instant, and the command reports the verdict, the rules and the records."""

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from pipelines.lib.explain import ExplainError, explain, find_person
from tests.conftest import DemoHome, run_cli

pytestmark = pytest.mark.slow

COLUMNS = "person_id, is_eligible, rules_fired, contact_value, recipient, as_of"
# The drug the standing REFILL model reminds of (its `refill_drug` var's default).
REFILL_DRUGS = ";314076;"


def _build_as_of(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.sql("select max(as_of) from marts.eligibility").fetchone()[0]


def test_every_stored_function_matches_the_model_at_the_build_instant(
    demo_home: DemoHome,
):
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        as_of = _build_as_of(con)
        communications = con.sql(
            "select distinct purpose_code, channel from marts.eligibility"
        ).fetchall()
        assert len(communications) == 8
        for purpose, channel in communications:
            function = f"marts.eligibility_at__{purpose.lower()}__{channel}"
            from_function = f"""
                select {COLUMNS}
                from {function}(
                    null, null, 'CoveredEntity', cast($as_of as timestamptz),
                    p_refill_drugs := $refill_drugs
                )
            """
            from_model = f"""
                select {COLUMNS} from marts.eligibility
                where purpose_code = '{purpose}' and channel = '{channel}'
            """
            differences = con.execute(
                f"select count(*) from (({from_function}) except ({from_model})"
                f" union all ({from_model}) except ({from_function}))",
                {"as_of": as_of, "refill_drugs": REFILL_DRUGS},
            ).fetchone()[0]
            assert differences == 0, (purpose, channel)


def test_a_revoked_person_was_eligible_before_the_revocation(demo_home: DemoHome):
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        as_of = _build_as_of(con)
        revoked = con.sql(
            """
            select eligibility.person_id, authorizations.revoked_at
            from marts.eligibility as eligibility
            inner join marts.fct_authorizations as authorizations
                on eligibility.person_id = authorizations.person_id
            where eligibility.purpose_code = 'MARKETING'
                and eligibility.channel = 'email'
                and eligibility.rules_fired = 'R-MKT-AUTH;R-AUTH-REV'
                and authorizations.revoked_at is not null
            order by 1
            limit 1
            """
        ).fetchone()
        assert revoked is not None, "the demo planted no revoked authorization"
        person_id, revoked_at = revoked
        now = explain(con, person_id, purpose="MARKETING", channel="email", as_of=as_of)
        before = explain(
            con,
            person_id,
            purpose="MARKETING",
            channel="email",
            as_of=revoked_at - timedelta(seconds=1),
        )
    assert not now.eligible
    assert now.rules == ["R-MKT-AUTH", "R-AUTH-REV"]
    assert now.trail[1].citation == "45 CFR 164.508(b)(5)"
    assert any(record["revoked_at"] for record in now.trail[1].evidence)
    assert "R-AUTH-REV" not in before.rules


def test_an_unknown_purpose_is_judged_as_marketing(demo_home: DemoHome):
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        person_id = con.sql("select min(person_id) from marts.dim_persons").fetchone()[
            0
        ]
        as_of = _build_as_of(con)
        unknown = explain(con, person_id, purpose="LOYALTY", channel="sms", as_of=as_of)
        marketing = explain(
            con, person_id, purpose="MARKETING", channel="sms", as_of=as_of
        )
        with pytest.raises(ExplainError, match="no person with that MRN"):
            find_person(con, mrn="MRN-THAT-DOES-NOT-EXIST")
        with pytest.raises(ExplainError, match="unknown channel"):
            explain(con, person_id, purpose="MARKETING", channel="fax", as_of=as_of)
    assert unknown.evaluated_as == "MARKETING"
    assert (unknown.eligible, unknown.rules) == (marketing.eligible, marketing.rules)


def test_the_command_answers_in_json_and_fails_clearly(demo_home: DemoHome):
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        mrn, person_id, eligible = con.sql(
            """
            select linked.mrn, eligibility.person_id, eligibility.is_eligible
            from marts.eligibility as eligibility
            inner join intermediate.int_source_records_linked as linked
                on eligibility.person_id = linked.person_id
            where eligibility.purpose_code = 'MARKETING'
                and eligibility.channel = 'email'
                and eligibility.is_eligible
                and linked.mrn is not null
            order by 2
            limit 1
            """
        ).fetchone()
        email = con.execute(
            "select email_norm from marts.dim_persons where person_id = ?", [person_id]
        ).fetchone()[0]
    as_of = datetime.now(UTC).isoformat()
    by_mrn = run_cli(
        demo_home.root,
        "explain",
        "--mrn",
        mrn,
        "--purpose",
        "MARKETING",
        "--channel",
        "email",
        "--as-of",
        as_of,
        "--json",
    )
    assert by_mrn.returncode == 0, by_mrn.stderr
    answer = json.loads(by_mrn.stdout)
    assert {"eligible", "rules", "person", "as_of", "rule_set_version"} <= set(answer)
    assert answer["person"] == person_id
    assert answer["eligible"] is eligible is True
    assert answer["rules"] == []
    assert answer["rule_set_version"].startswith("rs-")
    # No contact detail of the person appears in the answer.
    assert email not in by_mrn.stdout

    missing = run_cli(
        demo_home.root,
        "explain",
        "--email",
        "nobody@example.invalid",
        "--purpose",
        "MARKETING",
        "--channel",
        "email",
    )
    assert missing.returncode == 1
    assert "no person with that email address" in missing.stderr
    both = run_cli(
        demo_home.root,
        "explain",
        "--mrn",
        mrn,
        "--person",
        person_id,
        "--purpose",
        "MARKETING",
        "--channel",
        "email",
    )
    assert both.returncode == 2
