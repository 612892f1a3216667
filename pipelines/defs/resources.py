"""Resources shared by every Dagster asset of the code location."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import env
from pipelines.lib.instants import parse_instant
from pipelines.lib.warehouse import connect


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file of the current Clearlist home."""

    path: str = ""

    @contextmanager
    def connect(
        self, *, read_only: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse for one step."""
        path = self.path or str(env.home().warehouse)
        with connect(Path(path), read_only=read_only) as con:
            yield con


class RunSettings(dg.ConfigurableResource):
    """What one run is asked to do, filled in per run by the command line.

    `as_of` is the instant consent is judged at; `recipient`, `export_format` and
    `expected_rows` (the included count a preview showed; -1 when none) describe an
    export.
    """

    as_of: str = ""
    recipient: str = ""
    export_format: str = "csv"
    expected_rows: int = -1

    def as_of_instant(self) -> datetime | None:
        """The requested instant in UTC, or None for "now"."""
        if not self.as_of:
            return None
        return parse_instant(self.as_of)
