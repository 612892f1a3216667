"""`clearlist funnel`: the suppressed funnel of a demo campaign, table, JSON and chart.

Runs the real command line on a copy of the session's demo warehouse (the command
writes its chart and an audit entry under the home, so the shared home stays as it
was), and recounts the shown figures with queries of the test's own.
"""

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DemoHome, run_cli

pytestmark = pytest.mark.slow

CAMPAIGN = "cmp-wellness-2026"
COUNTS = (
    "sent",
    "delivered",
    "opened_any",
    "opened",
    "machine_opened_only",
    "clicked",
    "converted",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def funnel_home(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("funnel-home")
    shutil.copy(demo_home.warehouse, root / "warehouse.duckdb")
    return root


def _recount(warehouse: Path, step_id: str) -> dict[str, int]:
    """People per stage of one step, counted from the events, not the funnel marts."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sent, opened = con.execute(
            """
            with people as (
                select
                    coalesce(links.person_id, 'crm:' || events.crm_contact_id)
                        as person,
                    events.event_type,
                    events.is_machine_open
                from marts.fct_email_events as events
                left join intermediate.int_source_records_linked as links
                    on links.source_system = 'crm'
                    and links.source_record_id = events.crm_contact_id
                where events.campaign_id = ? and events.step_id = ?
            )
            select
                count(distinct person) filter (where event_type = 'processed'),
                count(distinct person) filter (
                    where event_type = 'open' and not is_machine_open
                )
            from people
            """,
            [CAMPAIGN, step_id],
        ).fetchone()
    return {"sent": sent, "opened": opened}


def test_json_funnel_is_suppressed_recounts_and_charts(funnel_home: Path):
    result = run_cli(funnel_home, "funnel", CAMPAIGN, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["campaign_id"] == CAMPAIGN
    steps = report["steps"]
    assert [step["step_number"] for step in steps] == list(range(1, len(steps) + 1))
    assert len(steps) == 3
    for step in steps:
        for name in COUNTS:
            value = step[name]
            assert value is None or not 1 <= value <= 10, (step["step_id"], name)
        assert step["suppressed"] == [n for n in COUNTS if step[n] is None]
        truth = _recount(funnel_home / "warehouse.duckdb", step["step_id"])
        for name, count in truth.items():
            assert step[name] in (None, count), (step["step_id"], name)
    # the demo sends each step to hundreds: the headline counts show somewhere
    assert any(step["sent"] for step in steps)
    assert any(step["opened"] for step in steps)
    chart = Path(report["chart"])
    assert chart.parent == funnel_home / "reports"
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_table_prints_steps_and_chart_path(funnel_home: Path):
    result = run_cli(funnel_home, "funnel", CAMPAIGN, "--as-of", "2030-01-01T00:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CAMPAIGN} as of 2030-01-01T00:00:00+00:00" in result.stdout
    for label in ("sent", "delivered", "opened by a person", "machine open only"):
        assert label in result.stdout
    chart_lines = [
        line for line in result.stdout.splitlines() if line.startswith("chart: ")
    ]
    assert len(chart_lines) == 1
    chart = Path(chart_lines[0].removeprefix("chart: ").strip())
    assert chart.name == f"funnel_{CAMPAIGN}_20300101T000000Z.png"
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_unknown_campaign_exits_1_naming_the_known_ones(funnel_home: Path):
    result = run_cli(funnel_home, "funnel", "cmp-no-such-campaign")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "no campaign 'cmp-no-such-campaign'" in message
    assert CAMPAIGN in message
