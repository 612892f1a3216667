"""Connections to the DuckDB warehouse."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)


@contextmanager
def connect(
    path: Path, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse in UTC and close it when done.

    DuckDB allows one writing process at a time, so callers hold a connection only
    for the step that needs it.
    """
    if read_only and not path.exists():
        msg = f"no warehouse at {path.name} yet: run `clearlist ingest` first"
        raise FileNotFoundError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()
