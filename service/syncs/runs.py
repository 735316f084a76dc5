"""Sync runs: each sync of a connection with what it found and did, oldest first."""

import uuid
from dataclasses import asdict, dataclass, fields

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import paginate
from service.syncs.models import SyncRun
from service.syncs.vocabulary import RunStatus


@dataclass(slots=True)
class Counts:
    """What a sync found and did (the summary `onebudget sync` prints)."""

    fetched: int = 0  # records read from the agency, broken ones included
    created: int = 0  # awards allocated for the first time
    unchanged: int = 0  # seen before (repeated or older versions included): nothing to do
    adjusted: int = 0  # amended or withdrawn: topped up or taken back
    confirmed: int = 0  # indicative awards now confirmed
    dead_lettered: int = 0  # set aside with the reason, for a replay
    replayed: int = 0  # dead letters replayed by this sync
    pushed: int = 0  # spend lines the agency now has
    push_rejected: int = 0  # spend lines the agency refused (with its reason)

    def add(self, other: "Counts") -> None:
        """Add another's counts to these."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return asdict(self)


async def start_run(session: AsyncSession, *, connection_id: uuid.UUID) -> SyncRun:
    """A run, begun now."""
    run = SyncRun(connection_id=connection_id)
    session.add(run)
    await session.flush()
    await session.refresh(run)
    return run


async def save_counts(session: AsyncSession, *, run_id: uuid.UUID, counts: Counts) -> None:
    """The run's counts so far (in the transaction that did the work they count)."""
    run = await session.get(SyncRun, run_id)
    assert run is not None
    for name, value in counts.as_dict().items():
        setattr(run, name, value)
    await session.flush()


async def finish_run(
    session: AsyncSession, *, run_id: uuid.UUID, counts: Counts, error: str | None
) -> SyncRun:
    """The run ended: succeeded, or failed with why."""
    await save_counts(session, run_id=run_id, counts=counts)
    run = await session.get(SyncRun, run_id)
    assert run is not None
    run.status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
    run.error = error[:1000] if error else None
    run.finished_at = func.now()
    await session.flush()
    await session.refresh(run)
    return run


async def list_runs(
    session: AsyncSession, *, connection_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[SyncRun], str | None]:
    """A connection's runs, newest first."""
    query = select(SyncRun).where(SyncRun.connection_id == connection_id)
    return await paginate(
        session,
        query,
        order=[SyncRun.started_at, SyncRun.id],
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )
