"""Instants as the command line and the runs take them: ISO 8601 with a zone."""

from datetime import UTC, datetime


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
