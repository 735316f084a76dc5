"""Syncs as queue jobs, for `onebudget worker` to register (service/jobs/kinds.py):

    JobKind("sync_agency", sync_agency_job, concurrency_limit=0)   # payload {"agency_id": …}
    Schedule("sync_agencies", "*/5 * * * *", sync_every_agency)

A second worker that takes the same agency meanwhile finds its lock held and skips it:
the running sync covers what it would have read.
"""

import logging
import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sync import SyncOutcome, sync_agency
from service.config import Settings
from service.syncs.connections import all_connections
from service.syncs.locks import SyncBusy

log = logging.getLogger(__name__)


class JobContext(Protocol):
    """What a worker gives its jobs (service.jobs.context.WorkerContext)."""

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def settings(self) -> Settings: ...


async def _sync(context: JobContext, agency_id: uuid.UUID) -> SyncOutcome | None:
    """Sync one agency; None if another worker is syncing it now."""
    try:
        outcome = await sync_agency(context.sessionmaker, context.settings, agency_id=agency_id)
    except SyncBusy:
        log.info("agency %s is being synced by another worker; skipped", agency_id)
        return None
    log.info("agency %s synced: %s %s", agency_id, outcome.status, outcome.counts.as_dict())
    return outcome


async def sync_agency_job(context: JobContext, payload: dict[str, Any]) -> None:
    """The job: sync the agency its payload names."""
    await _sync(context, uuid.UUID(str(payload["agency_id"])))


async def sync_every_agency(context: JobContext) -> None:
    """The schedule: sync every connected agency, one after another."""
    async with context.sessionmaker() as session:
        agencies = [connection.agency_id for connection in await all_connections(session)]
    for agency_id in agencies:
        await _sync(context, agency_id)
