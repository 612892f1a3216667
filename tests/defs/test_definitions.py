"""The whole code location loads, and its graph keeps the walls of the architecture."""

from pipelines.definitions import defs
from pipelines.defs.dbt.assets import segments


def test_code_location_loads_every_asset_and_job():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}

    assert {"raw/ehr_patients", "raw/crm_authorization_form_consents"} <= keys
    assert {
        "marts/dim_persons",
        "marts/fct_authorizations",
        "marts/eligibility",
    } <= keys
    assert "segments/seg_wellness_program_email" in keys
    assert "exports/seg_wellness_program_email" in keys
    job_names = {job.name for job in repository.get_all_jobs()}
    assert {"ingest", "build", "export_seg_wellness_program_email"} <= job_names


def test_raw_sources_are_fed_only_by_ingestion():
    graph = defs.get_repository_def().asset_graph
    staging = graph.get(
        next(k for k in graph.get_all_asset_keys() if k.path[-1] == "stg_ehr__patients")
    )
    assert [key.to_user_string() for key in staging.parent_keys] == ["raw/ehr_patients"]


def test_every_segment_export_sits_behind_one_blocking_gate():
    graph = defs.get_repository_def().asset_graph
    assert segments()
    for name, declared in segments().items():
        segment_key = declared["asset_key"]
        export_node = next(
            graph.get(key)
            for key in graph.get_all_asset_keys()
            if key.path == ["exports", name]
        )
        assert export_node.parent_keys == {segment_key}
        gates = [
            check_key
            for check_key in graph.asset_check_keys
            if check_key.asset_key == segment_key and check_key.name == "audience_gate"
        ]
        assert len(gates) == 1
        assert graph.get_check_spec(gates[0]).blocking
