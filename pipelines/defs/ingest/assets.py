"""Ingestion: new landing batches of each source system into the `raw` schema.

One multi-asset per source system; each raw table it writes is an asset of its own
(`raw/<table>`), the upstream of the dbt source of the same name.
"""

import dagster as dg

from pipelines import env
from pipelines.defs.resources import Warehouse
from pipelines.lib.ingest import SOURCES, ensure_raw_schema, ingest_source
from pipelines.lib.raw_schemas import CRM_TABLES, EHR_TABLES, ENGAGEMENT_TABLES

TABLES_BY_SOURCE = {
    "ehr": sorted(EHR_TABLES),
    "crm": sorted(CRM_TABLES),
    "engagement": sorted(ENGAGEMENT_TABLES),
}


def build_ingest_asset(source: str) -> dg.AssetsDefinition:
    """Build the multi-asset that loads one source system's new batches."""

    @dg.multi_asset(
        name=f"ingest_{source}",
        specs=[
            dg.AssetSpec(
                dg.AssetKey(["raw", table]),
                group_name="raw",
                kinds={"duckdb", "polars"},
                description=f"Every version of every {table} record, as landed.",
            )
            for table in TABLES_BY_SOURCE[source]
        ],
    )
    def ingest(context: dg.AssetExecutionContext, warehouse: Warehouse):
        landing = env.home().landing
        with warehouse.connect() as con:
            ensure_raw_schema(con)
            report = ingest_source(con, landing, source)
        context.log.info(
            "%s: %d batches loaded, %d already loaded and skipped",
            source,
            len(report.batches_loaded),
            len(report.batches_skipped),
        )
        for table in TABLES_BY_SOURCE[source]:
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", table]),
                metadata={
                    "table": f"raw.{table}",
                    "rows_loaded": report.rows.get(table, 0),
                    "rows_quarantined": report.quarantined.get(table, 0),
                    "batches_loaded": dg.MetadataValue.json(report.batches_loaded),
                },
            )

    return ingest


ingest_assets = [build_ingest_asset(source) for source in SOURCES]
