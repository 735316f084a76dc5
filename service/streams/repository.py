"""Funding stream rows, always looked up within the owning agency's reach."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.errors import NotFound
from service.policy import stream_in_reach
from service.streams.models import FundingStream


async def find_stream(
    session: AsyncSession, *, stream_id: uuid.UUID, agency_id: uuid.UUID, for_update: bool = False
) -> FundingStream:
    """One of the agency's own streams, or 404."""
    query = select(FundingStream).where(FundingStream.id == stream_id, stream_in_reach(agency_id))
    if for_update:
        query = query.with_for_update()
    stream = await session.scalar(query)
    if stream is None:
        raise NotFound(f"No funding stream {stream_id} is within your reach.")
    return stream
