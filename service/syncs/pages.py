"""A page of what an agency's syncs left behind (its runs, its dead letters), for its own
partner only: the one rule both lists follow."""

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from service.api.pagination import Slice, paginate_slice
from service.auth.caller import Caller
from service.domain.errors import NotFound
from service.policy import own_system, require_scope
from service.syncs.models import AgencyConnection

Row = TypeVar("Row")


async def agency_page(
    session: AsyncSession,
    caller: Caller,
    *,
    rows: type[Row],
    connection_id: InstrumentedAttribute[uuid.UUID],
    order: Sequence[InstrumentedAttribute[Any]],
    what: str,
    agency_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> Slice[Row]:
    """`rows` of the agency's connection (joined on their `connection_id`), newest first by
    `order`: the caller's own agency's only (NotFound, naming `what`, otherwise)."""
    require_scope(caller, "syncs:read")
    if not own_system(caller, agency_id):
        raise NotFound(f"No {what} of agency {agency_id} are within your reach.")
    query = (
        select(rows)
        .join(AgencyConnection, AgencyConnection.id == connection_id)
        .where(AgencyConnection.agency_id == agency_id)
    )
    return await paginate_slice(
        session, query, order=order, cursor=cursor, limit=limit, newest_first=True
    )
