"""Ingestion: landing batches into the DuckDB `raw` schema (INPUTS.md).

`ingest_source` loads every new batch of one source system; `ensure_raw_schema`
creates the empty raw tables so that downstream models build before data arrives.
"""

from pipelines.lib.ingest.errors import IngestError
from pipelines.lib.ingest.load import ensure_raw_schema
from pipelines.lib.ingest.plan import SOURCES
from pipelines.lib.ingest.run import SourceReport, ingest_source

__all__ = [
    "SOURCES",
    "IngestError",
    "SourceReport",
    "ensure_raw_schema",
    "ingest_source",
]
