"""What kind of object an id names, so one look-up (GraphQL's `node(id:)`) can find any.

Reach is not judged here: the kind's own read (get_budget, get_spend, ...) judges it, so an
id outside reach ends as NotFound exactly like one that names nothing.
"""

import uuid

from sqlalchemy import CompoundSelect, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.allocations.models import Allocation
from service.budgets.models import Budget
from service.people.models import Person
from service.spends.models import Spend
from service.streams.models import FundingStream


async def kind_of(session: AsyncSession, *, object_id: uuid.UUID) -> str | None:
    """ "budget", "person", "spend", "commitment", "reversal", "stream", "allocation",
    "agency", or None when no object has this id."""
    query: CompoundSelect[tuple[str]] = union_all(
        select(literal("budget")).where(Budget.id == object_id),
        select(literal("person")).where(Person.id == object_id),
        select(Spend.kind).where(Spend.id == object_id),
        select(literal("stream")).where(FundingStream.id == object_id),
        select(literal("allocation")).where(Allocation.id == object_id),
        select(literal("agency")).where(Agency.id == object_id),
    )
    kind: str | None = await session.scalar(query.limit(1))
    return kind
