"""Creating, reading and changing funding streams: an agency's own, nobody else's."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import paginate
from service.auth.caller import Caller
from service.domain.vocabulary import Category, StreamKind, Unspent
from service.policy import require_scope, stream_in_reach, stream_shown
from service.streams.models import FundingStream
from service.streams.repository import find_stream
from service.streams.schemas import StreamIn, StreamPatch
from service.versions import Precondition
from service.views import view_of


@dataclass(frozen=True, slots=True)
class StreamView:
    """A funding stream and its rules."""

    id: uuid.UUID
    agency_id: uuid.UUID
    name: str
    kind: StreamKind
    categories: list[Category] | None
    unspent: Unspent
    cap_amount: int | None
    approval_threshold_amount: int | None
    version: int
    created_at: datetime


def _view(stream: FundingStream) -> StreamView:
    return view_of(StreamView, stream)


async def create_stream(
    session: AsyncSession, caller: Caller, *, data: StreamIn, stream_id: uuid.UUID | None = None
) -> StreamView:
    """Open a stream for the caller's agency."""
    require_scope(caller, "streams:write")
    categories = sorted(set(data.categories)) if data.categories is not None else None
    stream = FundingStream(
        id=stream_id or uuid.uuid4(),
        agency_id=caller.agency_id,
        name=data.name,
        kind=data.kind,
        categories=categories,
        unspent=data.unspent,
        cap_amount=data.cap_amount,
        approval_threshold_amount=data.approval_threshold_amount,
    )
    session.add(stream)
    await session.flush()
    return _view(stream)


async def get_stream(session: AsyncSession, caller: Caller, *, stream_id: uuid.UUID) -> StreamView:
    """One of the caller's streams, or 404."""
    require_scope(caller, "streams:read")
    return _view(await find_stream(session, stream_id=stream_id, agency_id=caller.agency_id))


async def list_streams(
    session: AsyncSession, caller: Caller, *, cursor: str | None, limit: int
) -> tuple[list[StreamView], str | None]:
    """The caller's streams, oldest first."""
    require_scope(caller, "streams:read")
    query = select(FundingStream).where(stream_in_reach(caller.agency_id))
    order = [FundingStream.created_at, FundingStream.id]
    rows, next_cursor = await paginate(session, query, order=order, cursor=cursor, limit=limit)
    return [_view(row) for row in rows], next_cursor


async def own_streams(
    session: AsyncSession, caller: Caller, *, stream_ids: Sequence[uuid.UUID] | None = None
) -> list[StreamView]:
    """The caller's streams (those among `stream_ids`, if given), oldest first."""
    require_scope(caller, "streams:read")
    query = select(FundingStream).where(stream_in_reach(caller.agency_id))
    if stream_ids is not None:
        query = query.where(FundingStream.id.in_(stream_ids))
    rows = await session.scalars(query.order_by(FundingStream.created_at, FundingStream.id))
    return [_view(row) for row in rows]


async def streams_shown(
    session: AsyncSession, caller: Caller, *, stream_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, StreamView]:
    """Streams as a budget names them: the caller's own, or paying into a budget it reaches.

    No scope of its own: it names the streams of budgets and spends the caller has read
    under theirs. Only a stream's own agency reads its rules (own_streams).
    """
    rows = await session.scalars(
        select(FundingStream).where(
            FundingStream.id.in_(stream_ids), stream_shown(caller.agency_id)
        )
    )
    return {row.id: _view(row) for row in rows}


async def update_stream(
    session: AsyncSession,
    caller: Caller,
    *,
    stream_id: uuid.UUID,
    changes: StreamPatch,
    precondition: Precondition,
) -> StreamView:
    """Apply the fields sent; the version moves on so older ETags stop matching."""
    require_scope(caller, "streams:write")
    stream = await find_stream(
        session, stream_id=stream_id, agency_id=caller.agency_id, for_update=True
    )
    precondition.check(object_id=stream.id, version=stream.version)
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(stream, field, value)
    stream.version += 1
    await session.flush()
    return _view(stream)
