"""Budget balances: per stream and in total, now (from account rows) or as of a past time.

A page of budgets costs the same three queries as one budget: counters, indicative money,
and the streams' owners and names.
"""

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.models import Allocation
from service.domain.ledger import AccountKind, Counters, StreamBalance, stream_balance
from service.streams.models import FundingStream

# Account counters of one budget, keyed by (stream, account kind).
BudgetCounters = Mapping[tuple[uuid.UUID, AccountKind], Counters]


@dataclass(frozen=True, slots=True)
class Totals:
    """Money on a budget, in pence. allocated = available + pending + spent + returned."""

    allocated: int
    available: int
    pending: int
    spent: int
    returned: int
    indicative: int


@dataclass(frozen=True, slots=True)
class StreamTotals(Totals):
    """One stream's share of a budget, named so the person can tell their streams apart."""

    stream_id: uuid.UUID
    agency_id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class Balances:
    """A budget's totals and one entry per stream."""

    totals: Totals
    streams: tuple[StreamTotals, ...]


async def _indicative(
    session: AsyncSession, budget_ids: Collection[uuid.UUID], as_of: datetime | None
) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
    """Indicative money per budget and stream: allocated but not (at as_of) confirmed."""
    query = select(Allocation.budget_id, Allocation.stream_id, func.sum(Allocation.amount)).where(
        Allocation.budget_id.in_(budget_ids)
    )
    if as_of is None:
        query = query.where(Allocation.status == "indicative")
    else:
        query = query.where(
            Allocation.created_at <= as_of,
            or_(Allocation.confirmed_at.is_(None), Allocation.confirmed_at > as_of),
        )
    rows = await session.execute(query.group_by(Allocation.budget_id, Allocation.stream_id))
    found: dict[uuid.UUID, dict[uuid.UUID, int]] = defaultdict(dict)
    for budget_id, stream_id, total in rows:
        found[budget_id][stream_id] = int(total)
    return found


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
    counters: Mapping[uuid.UUID, BudgetCounters],
    *,
    as_of: datetime | None = None,
) -> dict[uuid.UUID, Balances]:
    """Turn each budget's account counters into its totals and per-stream balances."""
    indicative = await _indicative(session, list(counters), as_of)
    stream_ids = {stream for budget in counters.values() for stream, _ in budget}
    stream_ids |= {stream for budget in indicative.values() for stream in budget}
    owners = await _stream_owners(session, stream_ids)
    return {
        budget_id: _balances(accounts, indicative.get(budget_id, {}), owners)
        for budget_id, accounts in counters.items()
    }


def _balances(
    counters: BudgetCounters,
    indicative: Mapping[uuid.UUID, int],
    owners: Mapping[uuid.UUID, tuple[uuid.UUID, str]],
) -> Balances:
    by_stream: dict[uuid.UUID, dict[AccountKind, Counters]] = defaultdict(dict)
    for (stream_id, kind), value in counters.items():
        by_stream[stream_id][kind] = value
    streams = []
    total = StreamBalance()
    # By name, so a person sees their streams in the same order every time.
    for stream_id in sorted(set(by_stream) | set(indicative), key=lambda s: (owners[s][1], str(s))):
        balance = stream_balance(by_stream.get(stream_id, {}))
        total = total + balance
        agency_id, name = owners[stream_id]
        streams.append(
            StreamTotals(
                stream_id=stream_id,
                agency_id=agency_id,
                name=name,
                indicative=indicative.get(stream_id, 0),
                **_fields(balance),
            )
        )
    totals = Totals(indicative=sum(indicative.values()), **_fields(total))
    return Balances(totals=totals, streams=tuple(streams))


def _fields(balance: StreamBalance) -> dict[str, int]:
    return {
        "allocated": balance.allocated,
        "available": balance.available,
        "pending": balance.pending,
        "spent": balance.spent,
        "returned": balance.returned,
    }
