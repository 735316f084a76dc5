"""Binding an agency to its own system, and reading where its sync stands."""

import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.domain.errors import NotFound
from service.streams.models import FundingStream
from service.syncs.credentials import check_file
from service.syncs.models import AgencyConnection
from service.syncs.vocabulary import AdapterKind


class ConnectionRefused(ValueError):
    """The connection cannot be made as asked; the message says why."""


async def _stream_for(
    session: AsyncSession, *, agency_id: uuid.UUID, stream_id: uuid.UUID | None
) -> uuid.UUID:
    """The agency's stream its awards go to: the one named, else its only stream."""
    streams = list(
        (
            await session.scalars(
                select(FundingStream.id).where(FundingStream.agency_id == agency_id)
            )
        ).all()
    )
    if stream_id is not None:
        if stream_id not in streams:
            raise ConnectionRefused(f"stream {stream_id} is not one of the agency's streams")
        return stream_id
    if len(streams) != 1:
        raise ConnectionRefused(
            f"the agency has {len(streams)} streams: name the one its awards fund with --stream"
        )
    return streams[0]


async def connect(
    session: AsyncSession,
    *,
    agency_id: uuid.UUID,
    adapter: str,
    url: str,
    credentials_file: Path | None,
    stream_id: uuid.UUID | None = None,
) -> AgencyConnection:
    """Bind the agency to its system (again: a new adapter or URL reads from the start)."""
    if adapter not in set(AdapterKind):
        raise ConnectionRefused(
            f"no adapter {adapter!r}: the adapters are {', '.join(AdapterKind)}"
        )
    if not url.startswith(("http://", "https://")):
        raise ConnectionRefused(f"the URL must start with http:// or https://, not {url!r}")
    if await session.get(Agency, agency_id) is None:
        raise NotFound(f"No agency {agency_id}.")
    if credentials_file is not None:
        credentials_file = credentials_file.resolve()
        check_file(credentials_file)
    stream = await _stream_for(session, agency_id=agency_id, stream_id=stream_id)
    connection = await session.scalar(
        select(AgencyConnection).where(AgencyConnection.agency_id == agency_id).with_for_update()
    )
    url = url.rstrip("/")
    if connection is None:
        connection = AgencyConnection(
            agency_id=agency_id, adapter=adapter, url=url, stream_id=stream
        )
        session.add(connection)
    elif (connection.adapter, connection.url) != (adapter, url):
        connection.cursor = None  # another system: its cursors mean nothing here
    connection.adapter, connection.url, connection.stream_id = adapter, url, stream
    connection.credentials_file = str(credentials_file) if credentials_file else None
    connection.updated_at = func.now()
    await session.flush()
    await session.refresh(connection)
    return connection


async def connection_of(session: AsyncSession, *, agency_id: uuid.UUID) -> AgencyConnection:
    """The agency's connection; NotFound if it has none."""
    connection = await session.scalar(
        select(AgencyConnection).where(AgencyConnection.agency_id == agency_id)
    )
    if connection is None:
        raise NotFound(
            f"Agency {agency_id} is not connected to its system: `onebudget connect` binds it."
        )
    return connection


async def all_connections(session: AsyncSession) -> list[AgencyConnection]:
    """Every connection, oldest first."""
    query = select(AgencyConnection).order_by(AgencyConnection.created_at, AgencyConnection.id)
    return list((await session.scalars(query)).all())


async def save_cursor(
    session: AsyncSession, *, connection_id: uuid.UUID, cursor: str | None
) -> None:
    """Where the next sync starts reading."""
    connection = await session.get(AgencyConnection, connection_id)
    assert connection is not None
    connection.cursor = cursor
    connection.updated_at = func.now()
    await session.flush()
