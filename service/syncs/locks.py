"""One sync of an agency at a time, across every process: a PostgreSQL advisory lock held
in a transaction of its own for the whole sync (a killed worker's lock goes with its
connection)."""

import contextlib
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class SyncBusy(RuntimeError):
    """Another process is syncing this agency now."""


def _key(connection_id: uuid.UUID) -> object:
    return func.hashtextextended(f"onebudget-sync:{connection_id}", 0)


@contextlib.asynccontextmanager
async def agency_sync_lock(
    sessionmaker: async_sessionmaker[AsyncSession], *, connection_id: uuid.UUID
) -> AsyncIterator[None]:
    """Hold the connection's sync lock for the block; SyncBusy at once if another holds it."""
    # A transaction of its own, left open (holding nothing else) while the sync's own
    # transactions come and go on other connections; its end releases the lock.
    async with sessionmaker() as session, session.begin():
        taken = await session.scalar(select(func.pg_try_advisory_xact_lock(_key(connection_id))))
        if not taken:
            raise SyncBusy(f"another sync of this agency is running (connection {connection_id})")
        yield
