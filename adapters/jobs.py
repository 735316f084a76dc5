"""Syncs as `onebudget worker` jobs (registered in service/jobs/kinds.py): one agency's,
queued when a dead letter's replay is asked for (payload {"agency_id": …}), and every
connected agency's on a schedule.

A second worker that takes the same agency meanwhile finds its lock held and skips it:
the running sync covers what it would have read.
"""

import logging
import uuid
from typing import Any

from adapters.sync import SyncOutcome, sync_agency
from service.jobs.context import WorkerContext
from service.syncs.connections import all_connections
from service.syncs.locks import SyncBusy

log = logging.getLogger(__name__)


async def _sync(context: WorkerContext, agency_id: uuid.UUID) -> SyncOutcome | None:
    """Sync one agency; None if another worker is syncing it now."""
    try:
        outcome = await sync_agency(context.sessionmaker, context.settings, agency_id=agency_id)
    except SyncBusy:
        log.info("agency %s is being synced by another worker; skipped", agency_id)
        return None
    log.info("agency %s synced: %s %s", agency_id, outcome.status, outcome.counts.as_dict())
    return outcome


async def sync_agency_job(context: WorkerContext, payload: dict[str, Any]) -> None:
    """The job: sync the agency its payload names."""
    await _sync(context, uuid.UUID(str(payload["agency_id"])))


async def sync_every_agency(context: WorkerContext) -> None:
    """The schedule: sync every connected agency, one after another."""
    async with context.sessionmaker() as session:
        agencies = [connection.agency_id for connection in await all_connections(session)]
    for agency_id in agencies:
        await _sync(context, agency_id)
