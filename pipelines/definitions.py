"""The Clearlist code location: the one entry point Dagster loads."""

import dagster as dg

from pipelines.defs.dbt.assets import (
    dbt_resource,
    segment_models,
    segments,
    warehouse_models,
)
from pipelines.defs.export.assets import segment_exports, segment_key
from pipelines.defs.ingest.assets import ingest_assets
from pipelines.defs.ingest.sensors import landing_sensor
from pipelines.defs.resources import RunSettings, Warehouse

gate_checks, export_assets = segment_exports()

ingest_job = dg.define_asset_job(
    "ingest", selection=dg.AssetSelection.groups("raw"), description="Load new batches."
)
build_job = dg.define_asset_job(
    "build",
    selection=dg.AssetSelection.assets(warehouse_models),
    description="Build and test the warehouse models with dbt.",
)
segments_job = dg.define_asset_job(
    "segments",
    selection=dg.AssetSelection.assets(segment_models).without_checks(),
    description="Build segments at an instant, for a preview: no gate, no export.",
)
export_all_job = dg.define_asset_job(
    "export_all",
    selection=(
        dg.AssetSelection.assets(segment_models)
        | dg.AssetSelection.key_prefixes(["exports"])
    ),
    description="Build every segment at an instant, gate each, export those that pass.",
)
export_jobs = [
    dg.define_asset_job(
        f"export_{name}",
        selection=dg.AssetSelection.assets(
            segment_key(name), dg.AssetKey(["exports", name])
        ),
        description=f"Build {name} at an instant, gate it, and export it.",
    )
    for name in segments()
]

defs = dg.Definitions(
    assets=[*ingest_assets, warehouse_models, segment_models, *export_assets],
    asset_checks=gate_checks,
    jobs=[ingest_job, build_job, segments_job, export_all_job, *export_jobs],
    sensors=[landing_sensor],
    resources={
        "dbt": dbt_resource(),
        "warehouse": Warehouse(),
        "settings": RunSettings(),
    },
    executor=dg.in_process_executor,
)
