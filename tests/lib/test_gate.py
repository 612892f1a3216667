"""The gate against a real demo warehouse: a clean audience passes; tainted ones fail
with the right counts, and the results carry no row values."""

import json
from datetime import UTC, datetime

import duckdb
import pytest

from pipelines.lib.gate import Communication, allowed_export_columns, run_gate
from tests.conftest import DemoHome

pytestmark = pytest.mark.slow

SEGMENT = "seg_wellness_program_email"
RELATION = f"segments.{SEGMENT}"
COMMUNICATION = Communication(
    segment=SEGMENT,
    purpose_code="MARKETING",
    channel="email",
    recipients=("CoveredEntity",),
    export_columns=("person_token", "email", "first_name"),
    marketing_topic="wellness-program",
    list_id="4101",
)


def _as_of(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.sql(f"select max(segment_as_of) from {RELATION}").fetchone()[0]


def _gate(con: duckdb.DuckDBPyConnection, communication=COMMUNICATION):
    return run_gate(
        con,
        RELATION,
        communication,
        _as_of(con),
        allowed_columns=allowed_export_columns(con, communication),
    )


def _person_of(con: duckdb.DuckDBPyConnection, contact_id: str) -> str:
    return con.execute(
        """
        select person_id from intermediate.int_source_records_linked
        where source_system = 'crm' and source_record_id = $id
        """,
        {"id": contact_id},
    ).fetchone()[0]


def _taint(con: duckdb.DuckDBPyConnection, contact_id: str) -> None:
    """Slip a person into the audience as a broken chooser would."""
    person_id = _person_of(con, contact_id)
    con.execute(
        f"""
        insert into {RELATION}
        select
            persons.person_id, persons.person_id, persons.email_norm,
            persons.first_name, (select max(segment_as_of) from {RELATION})
        from marts.dim_persons as persons
        where persons.person_id = $person
        """,
        {"person": person_id},
    )


def _failed(result) -> dict[str, int]:
    return {
        f["column"] or f["expectation"]: f["unexpected_count"] for f in result.failures
    }


def test_clean_audience_passes(demo_home: DemoHome, warehouse_copy):
    with duckdb.connect(str(warehouse_copy)) as con:
        result = _gate(con)
    assert result.passed, result.failures
    assert result.row_count > 0
    assert all(check["unexpected_count"] == 0 for check in result.checks)


@pytest.mark.parametrize(
    ("scenario", "column"),
    [
        ("revoked", "gate_authorization_ok"),
        ("expired", "gate_authorization_ok"),
        ("wrong_recipient", "gate_authorization_ok"),
        ("email_unsub_this_list", "gate_email_not_suppressed"),
        ("email_spamreport", "gate_email_not_suppressed"),
        ("deceased", "gate_not_deceased"),
        ("minor", "gate_of_age"),
        ("restriction", "gate_not_restricted"),
        ("confidential_comm", "gate_confidential_ok"),
    ],
)
def test_tainted_audience_is_blocked_with_the_right_count(
    demo_home: DemoHome, warehouse_copy, scenario: str, column: str
):
    planted = demo_home.plan["scenarios"][scenario]["contact_ids"][:2]
    assert planted, f"the generator planted no {scenario}"
    with duckdb.connect(str(warehouse_copy)) as con:
        for contact_id in planted:
            _taint(con, contact_id)
        result = _gate(con)
    assert not result.passed
    assert _failed(result)[column] == len(planted)


def test_duplicate_people_are_blocked(demo_home: DemoHome, warehouse_copy):
    with duckdb.connect(str(warehouse_copy)) as con:
        con.execute(f"insert into {RELATION} select * from {RELATION} limit 3")
        result = _gate(con)
    assert not result.passed
    assert _failed(result)["person_id"] == 6


def test_a_column_outside_the_allow_list_is_blocked(demo_home, warehouse_copy):
    widened = Communication(
        **{
            **COMMUNICATION.__dict__,
            "export_columns": (*COMMUNICATION.export_columns, "segment_as_of"),
        }
    )
    with duckdb.connect(str(warehouse_copy)) as con:
        result = _gate(con, widened)
    assert not result.passed
    assert _failed(result) == {"export_columns_within_allow_list": 1}


def test_gate_results_carry_no_row_values(demo_home: DemoHome, warehouse_copy):
    planted = demo_home.plan["scenarios"]["revoked"]["contact_ids"][:1]
    with duckdb.connect(str(warehouse_copy)) as con:
        _taint(con, planted[0])
        result = _gate(con)
        emails = [row[0] for row in con.sql(f"select email from {RELATION}").fetchall()]
    text = json.dumps(result.to_dict())
    assert "unexpected_list" not in text
    assert not any(email and email in text for email in emails)
    assert datetime.fromisoformat(result.as_of) <= datetime.now(UTC)
