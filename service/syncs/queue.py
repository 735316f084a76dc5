"""Asking the worker for an agency's sync soon (a replay was asked for), by a queued job."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs.enqueue import enqueue

SYNC_AGENCY = "sync_agency"  # the job kind: adapters.jobs.sync_agency_job runs it


async def queue_sync(session: AsyncSession, *, agency_id: uuid.UUID) -> None:
    """A sync of the agency, queued in the caller's transaction (once, while one waits)."""
    await enqueue(
        session, SYNC_AGENCY, [{"agency_id": str(agency_id)}], dedupe_keys=[f"sync:{agency_id}"]
    )
