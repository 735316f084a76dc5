"""Creating, reading and changing funding streams, always within the caller's reach."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import paginate
from service.auth.caller import Caller
from service.errors import NotFound
from service.reach import stream_in_reach
from service.streams.models import FundingStream
from service.streams.schemas import StreamIn, StreamPatch


async def create_stream(session: AsyncSession, caller: Caller, *, data: StreamIn) -> FundingStream:
    """Open a stream for the caller's agency."""
    categories = sorted(set(data.categories)) if data.categories is not None else None
    stream = FundingStream(
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
    return stream


async def get_stream(
    session: AsyncSession, caller: Caller, stream_id: uuid.UUID, *, for_update: bool = False
) -> FundingStream:
    """One of the caller's streams, or 404."""
    query = select(FundingStream).where(
        FundingStream.id == stream_id, stream_in_reach(caller.agency_id)
    )
    if for_update:
        query = query.with_for_update()
    stream = await session.scalar(query)
    if stream is None:
        raise NotFound(f"No funding stream {stream_id} is within your reach.")
    return stream


async def list_streams(
    session: AsyncSession, caller: Caller, *, cursor: str | None, limit: int
) -> tuple[list[FundingStream], str | None]:
    """The caller's streams, oldest first."""
    query = select(FundingStream).where(stream_in_reach(caller.agency_id))
    order = [FundingStream.created_at, FundingStream.id]
    return await paginate(session, query, order=order, cursor=cursor, limit=limit)


async def update_stream(
    session: AsyncSession, stream: FundingStream, *, changes: StreamPatch
) -> FundingStream:
    """Apply the fields sent; the version moves on so older ETags stop matching."""
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(stream, field, value)
    stream.version += 1
    await session.flush()
    return stream
