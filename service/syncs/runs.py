"""Sync runs: each sync of a connection with what it found and did; read by its own agency."""

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import Slice
from service.auth.caller import Caller
from service.policy import own_system, require_scope
from service.syncs.models import AgencyConnection, SyncRun
from service.syncs.pages import agency_page
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


async def agency_runs(
    session: AsyncSession, caller: Caller, *, agency_id: uuid.UUID, cursor: str | None, limit: int
) -> Slice[SyncRun]:
    """The agency's runs, newest first: the caller's own agency's only (NotFound otherwise)."""
    return await agency_page(
        session,
        caller,
        rows=SyncRun,
        connection_id=SyncRun.connection_id,
        order=[SyncRun.started_at, SyncRun.id],
        what="syncs",
        agency_id=agency_id,
        cursor=cursor,
        limit=limit,
    )


async def last_runs(
    session: AsyncSession, caller: Caller, *, agency_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SyncRun | None]:
    """The newest run of each agency among `agency_ids` whose syncs the caller reaches (its
    own), None if it never synced; agencies out of reach are left out."""
    require_scope(caller, "syncs:read")
    found: dict[uuid.UUID, SyncRun | None] = {
        agency_id: None for agency_id in agency_ids if own_system(caller, agency_id)
    }
    if not found:
        return found
    query = (
        select(AgencyConnection.agency_id, SyncRun)
        .join(SyncRun, SyncRun.connection_id == AgencyConnection.id)
        .where(AgencyConnection.agency_id.in_(list(found)))
        .order_by(AgencyConnection.agency_id, SyncRun.started_at.desc(), SyncRun.id.desc())
        .ext(distinct_on(AgencyConnection.agency_id))
    )
    for agency_id, run in await session.execute(query):
        found[agency_id] = run
    return found
