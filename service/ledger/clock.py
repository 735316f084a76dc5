"""Ledger time: when money moved. The database's now(), unless a history is being loaded.

A trusted loader (the demo, and later an import of an agency's past awards) may replay a
history with `recorded_at`, so statements as of a past date show that history. It rides on
the session's own `info`, which no request can reach: a partner can never backdate money.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "onebudget.recorded_at"


@contextmanager
def recorded_at(session: AsyncSession, when: datetime) -> Iterator[None]:
    """Record every ledger write made in this block as having happened at `when`."""
    if when.tzinfo is None:
        raise ValueError("recorded_at needs a time zone")
    session.info[_KEY] = when
    try:
        yield
    finally:
        session.info.pop(_KEY, None)


def recorded_time(session: AsyncSession) -> datetime | None:
    """The time a loader set for this session's ledger writes, or None for now()."""
    when = session.info.get(_KEY)
    return when if isinstance(when, datetime) else None
