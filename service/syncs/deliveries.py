"""Spend lines owed to an agency (what its money paid for) and what it made of them.

A line is reported once it is paid (its spend posted). Its delivery id is derived from the
connection and the line, so a line sent again after a lost answer carries the same id and
the agency records it once.
"""

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.budgets.models import Budget
from service.domain.vocabulary import SpendKind, SpendStatus
from service.people.models import Person
from service.spends.models import Spend, SpendLine
from service.streams.models import FundingStream
from service.syncs.models import AgencyConnection, OutboundDelivery
from service.syncs.vocabulary import DeliveryStatus

_DELIVERY_NAMESPACE = uuid.UUID("7b0f5d2e-5c1e-4a8e-9d3c-0b6f1a2e4d51")


def delivery_id(*, connection_id: uuid.UUID, spend_id: uuid.UUID, position: int) -> uuid.UUID:
    """The same id every time this line is sent to this connection."""
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{connection_id}:{spend_id}:{position}")


@dataclass(frozen=True, slots=True)
class OwedLine:
    """A paid spend line the agency has not been told of yet."""

    delivery_id: uuid.UUID
    spend_id: uuid.UUID
    position: int
    person_reference: str
    category: str
    occurred_on: date
    amount: int
    reason: str
    description: str
    payee: str | None


async def owed_lines(
    session: AsyncSession, *, connection: AgencyConnection, limit: int
) -> list[OwedLine]:
    """Up to `limit` paid lines of the agency's streams not yet delivered, oldest first."""
    delivered = exists().where(
        OutboundDelivery.connection_id == connection.id,
        OutboundDelivery.spend_id == SpendLine.spend_id,
        OutboundDelivery.position == SpendLine.position,
    )
    agency_streams = select(FundingStream.id).where(FundingStream.agency_id == connection.agency_id)
    query = (
        select(SpendLine, Spend, Person.reference)
        .join(Spend, Spend.id == SpendLine.spend_id)
        .join(Budget, Budget.id == Spend.budget_id)
        .join(Person, Person.id == Budget.person_id)
        .where(
            SpendLine.stream_id.in_(agency_streams),
            and_(Spend.kind == SpendKind.SPEND, Spend.status == SpendStatus.POSTED),
            ~delivered,
        )
        .order_by(Spend.created_at, Spend.id, SpendLine.position)
        .limit(limit)
    )
    owed = []
    for line, spend, reference in (await session.execute(query)).all():
        owed.append(
            OwedLine(
                delivery_id=delivery_id(
                    connection_id=connection.id, spend_id=spend.id, position=line.position
                ),
                spend_id=spend.id,
                position=line.position,
                person_reference=reference,
                category=spend.category.value,
                occurred_on=spend.occurred_on or spend.created_at.date(),
                amount=line.amount,
                reason=line.reason,
                description=spend.description,
                payee=spend.payee,
            )
        )
    return owed


async def record_delivery(
    session: AsyncSession,
    *,
    connection_id: uuid.UUID,
    line: OwedLine,
    status: DeliveryStatus,
    receipt: str | None,
    reason: str | None,
) -> None:
    """What the agency made of a line (once: a second answer for it changes nothing)."""
    statement = (
        insert(OutboundDelivery)
        .values(
            id=line.delivery_id,
            connection_id=connection_id,
            spend_id=line.spend_id,
            position=line.position,
            status=status,
            receipt=receipt[:200] if receipt else None,
            reason=reason[:1000] if reason else None,
        )
        .on_conflict_do_nothing()
    )
    await session.execute(statement)
