import dagster as dg

from pipelines.definitions import defs


def test_code_location_loads_every_asset_check_and_job():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}

    assert {"raw/ehr_patients", "raw/crm_authorization_form_consents"} <= keys
    assert {"dim_persons", "fct_authorizations", "eligibility"} <= keys
    assert "seg_wellness_program_email" in keys
    assert "exports/seg_wellness_program_email" in keys
    job_names = {job.name for job in repository.get_all_jobs()}
    assert {"ingest", "build", "export_seg_wellness_program_email"} <= job_names


def test_every_segment_export_sits_behind_a_blocking_gate():
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    export_keys = [
        key for key in graph.get_all_asset_keys() if key.path[0] == "exports"
    ]
    assert export_keys
    for export_key in export_keys:
        segment_key = dg.AssetKey(export_key.path[1:])
        assert segment_key in graph.get(export_key).parent_keys
        checks = [
            check
            for check in graph.asset_check_keys
            if check.asset_key == segment_key and check.name == "audience_gate"
        ]
        assert len(checks) == 1
        spec = defs.get_assets_def(segment_key)  # the dbt multi-asset
        assert spec is not None
    gate_specs = [
        spec
        for checks_def in repository.asset_checks_defs_by_key.values()
        for spec in checks_def.check_specs
        if spec.name == "audience_gate"
    ]
    assert gate_specs and all(spec.blocking for spec in gate_specs)
