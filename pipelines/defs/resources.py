"""Resources shared by every Dagster asset of the code location."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import env
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

    `as_of` is the instant consent is judged at; `recipient` and `export_format`
    describe an export.
    """

    as_of: str = ""
    recipient: str = ""
    export_format: str = "csv"

    def as_of_instant(self) -> datetime | None:
        """The requested instant in UTC, or None for "now"."""
        if not self.as_of:
            return None
        return parse_instant(self.as_of)


def parse_instant(value: str) -> datetime:
    """Read an ISO 8601 instant that carries `Z` or an offset; return it in UTC.

    Raises:
        ValueError: The value is not an instant (no offset, or not ISO 8601).
    """
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = (
            f"expected an ISO 8601 instant such as 2026-06-01T09:00:00Z, got {value!r}"
        )
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        msg = f"the instant {value!r} has no time zone: add Z or an offset"
        raise ValueError(msg)
    return parsed.astimezone(UTC)
