"""Times a client may send: with a zone, and representable in UTC (years 1 to 9999).

PostgreSQL stores timestamptz in UTC and asyncpg converts through Python's datetime, so
0001-01-01T00:00:00+14:00 parses but has no UTC value: accepted, it would crash later.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)  # a time without a zone goes through the local zone here
    except (OverflowError, ValueError):
        raise ValueError("must fall between years 1 and 9999 once converted to UTC") from None
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "must include a time zone, e.g. 2026-12-01T09:00:00Z or 2026-12-01T09:00:00+01:00"
        )
    return value


# A time with or without a zone (without one it is read as the server's local time).
Instant = Annotated[datetime, AfterValidator(_representable)]
# A time that must name its zone: deadlines and expiries, where guessing would move them.
AwareInstant = Annotated[datetime, AfterValidator(_aware), AfterValidator(_representable)]
