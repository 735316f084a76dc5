"""Budget balances: per stream and in total, now (from account rows) or as of a past time."""

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.models import Allocation
from service.budgets.schemas import StreamTotals, Totals
from service.domain.ledger import AccountKind, Counters, StreamBalance, stream_balance
from service.streams.models import FundingStream


@dataclass(frozen=True, slots=True)
class Balances:
    """What the API shows: the totals and one entry per stream."""

    totals: Totals
    streams: list[StreamTotals]


async def _indicative(
    session: AsyncSession, budget_id: uuid.UUID, as_of: datetime | None
) -> dict[uuid.UUID, int]:
    """Indicative money per stream: allocated but not (yet, at as_of) confirmed."""
    query = select(Allocation.stream_id, func.sum(Allocation.amount)).where(
        Allocation.budget_id == budget_id
    )
    if as_of is None:
        query = query.where(Allocation.status == "indicative")
    else:
        query = query.where(
            Allocation.created_at <= as_of,
            or_(Allocation.confirmed_at.is_(None), Allocation.confirmed_at > as_of),
        )
    rows = await session.execute(query.group_by(Allocation.stream_id))
    return {stream_id: int(total) for stream_id, total in rows}


async def _stream_owners(
    session: AsyncSession, stream_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """Each stream's agency and name."""
    if not stream_ids:
        return {}
    rows = await session.execute(
        select(FundingStream.id, FundingStream.agency_id, FundingStream.name).where(
            FundingStream.id.in_(stream_ids)
        )
    )
    return {stream_id: (agency_id, name) for stream_id, agency_id, name in rows}


async def summarise(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    counters: Mapping[tuple[uuid.UUID, AccountKind], Counters],
    as_of: datetime | None = None,
) -> Balances:
    """Turn account counters into the budget's totals and per-stream balances."""
    by_stream: dict[uuid.UUID, dict[AccountKind, Counters]] = defaultdict(dict)
    for (stream_id, kind), value in counters.items():
        by_stream[stream_id][kind] = value
    indicative = await _indicative(session, budget_id, as_of)
    stream_ids = set(by_stream) | set(indicative)
    owners = await _stream_owners(session, stream_ids)
    streams = []
    total, total_indicative = StreamBalance(), 0
    for stream_id in sorted(stream_ids, key=str):
        balance = stream_balance(by_stream.get(stream_id, {}))
        total = total + balance
        total_indicative += indicative.get(stream_id, 0)
        streams.append(
            StreamTotals(
                stream_id=stream_id,
                agency_id=owners[stream_id][0],
                name=owners[stream_id][1],
                indicative=indicative.get(stream_id, 0),
                **_fields(balance),
            )
        )
    return Balances(totals=Totals(indicative=total_indicative, **_fields(total)), streams=streams)


def _fields(balance: StreamBalance) -> dict[str, int]:
    return {
        "allocated": balance.allocated,
        "available": balance.available,
        "pending": balance.pending,
        "spent": balance.spent,
        "returned": balance.returned,
    }
