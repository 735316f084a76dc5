"""Dead letters: records an agency sent that could not be used, kept with the reason until
a replay uses them (the record whole again, or the person now known)."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import Slice
from service.auth.caller import Caller
from service.domain.errors import NotFound
from service.policy import require_scope
from service.syncs.models import AgencyConnection, DeadLetter
from service.syncs.pages import agency_page
from service.syncs.queue import queue_sync


async def add_dead_letter(
    session: AsyncSession,
    *,
    connection_id: uuid.UUID,
    run_id: uuid.UUID | None,
    reason: str,
    raw: str,
    reference: str | None,
    version: int | None,
    cursor: str | None,
) -> DeadLetter:
    """Set a record aside with why."""
    letter = DeadLetter(
        connection_id=connection_id,
        sync_run_id=run_id,
        reason=reason[:1000],
        raw_payload=raw,
        reference=reference[:100] if reference else None,
        version=version,
        cursor=cursor,
    )
    session.add(letter)
    await session.flush()
    return letter


async def agency_dead_letters(
    session: AsyncSession, caller: Caller, *, agency_id: uuid.UUID, cursor: str | None, limit: int
) -> Slice[DeadLetter]:
    """The agency's dead letters, newest first (replayed ones too, with the outcome): the
    caller's own agency's only (NotFound otherwise)."""
    return await agency_page(
        session,
        caller,
        rows=DeadLetter,
        connection_id=DeadLetter.connection_id,
        order=[DeadLetter.created_at, DeadLetter.id],
        what="dead letters",
        agency_id=agency_id,
        cursor=cursor,
        limit=limit,
    )


async def replay_dead_letter(
    session: AsyncSession, caller: Caller, *, letter_id: uuid.UUID
) -> DeadLetter:
    """request_replay, for a partner's client: its own agency's dead letters only."""
    require_scope(caller, "syncs:write")
    return await request_replay(session, agency_id=caller.agency_id, letter_id=letter_id)


async def request_replay(
    session: AsyncSession, *, agency_id: uuid.UUID, letter_id: uuid.UUID
) -> DeadLetter:
    """Ask the agency's next sync to replay a dead letter (again, if it was replayed and
    failed), and queue that sync; NotFound outside the agency's own dead letters."""
    letter = await session.scalar(
        select(DeadLetter)
        .join(AgencyConnection, AgencyConnection.id == DeadLetter.connection_id)
        .where(DeadLetter.id == letter_id, AgencyConnection.agency_id == agency_id)
        .with_for_update(of=DeadLetter)
    )
    if letter is None:
        raise NotFound(f"No dead letter {letter_id} is your agency's.")
    if letter.replay_requested_at is None and letter.replayed_at is None:
        letter.replay_requested_at = func.now()
        await session.flush()
        await session.refresh(letter)
        await queue_sync(session, agency_id=agency_id)
    return letter


async def pending_replays(session: AsyncSession, *, connection_id: uuid.UUID) -> list[DeadLetter]:
    """Dead letters waiting for a replay, oldest first."""
    query = (
        select(DeadLetter)
        .where(
            DeadLetter.connection_id == connection_id,
            DeadLetter.replay_requested_at.is_not(None),
            DeadLetter.replayed_at.is_(None),
        )
        .order_by(DeadLetter.created_at, DeadLetter.id)
    )
    return list((await session.scalars(query)).all())


async def mark_replayed(
    session: AsyncSession, *, letter_id: uuid.UUID, outcome: str, done: bool
) -> None:
    """Record a replay's outcome; `done` when the record was used (or is superseded)."""
    letter = await session.get(DeadLetter, letter_id, with_for_update=True)
    assert letter is not None
    letter.replay_outcome = outcome[:1000]
    if done:
        letter.replayed_at = func.now()
    else:
        letter.replay_requested_at = None  # still dead: a later replay may be asked for
    await session.flush()
