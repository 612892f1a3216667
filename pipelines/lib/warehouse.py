"""Connections to the DuckDB warehouse."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = "2GB"


@contextmanager
def connect(
    path: Path, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse in UTC and close it when done.

    DuckDB allows one writing process at a time, so callers hold a connection only
    for the step that needs it. DuckDB's memory is capped at
    `CLEARLIST_DUCKDB_MEMORY_LIMIT` (default 2GB): a large batch spills to disk
    inside its transaction instead of growing with the batch.
    """
    if read_only and not path.exists():
        msg = f"no warehouse at {path.name} yet: run `clearlist ingest` first"
        raise FileNotFoundError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            "set memory_limit = ?",
            [os.environ.get("CLEARLIST_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)],
        )
        yield con
    finally:
        con.close()
