"""Allocating stream money to budgets, and confirming it into the ledger.

An agency allocates only from its own streams, to a budget it leads or funds; only the
agency whose stream it is confirms an allocation.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.errors import AlreadyConfirmed, OverCap
from service.allocations.models import Allocation
from service.auth.caller import Caller
from service.budgets.models import Budget
from service.domain.errors import ForbiddenRole, NotFound
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import format_pence
from service.domain.vocabulary import AllocationStatus
from service.ledger.clock import recorded_time
from service.ledger.models import Account
from service.ledger.repository import ensure_accounts, lock_budget, post_batch
from service.policy import budget_in_reach, budgets_reached, require_scope
from service.streams.models import FundingStream
from service.streams.repository import find_stream
from service.views import view_of

ALLOCATION_CODE = "allocation"


@dataclass(frozen=True, slots=True)
class AllocationView:
    """Money a stream puts into a budget; only confirmed money can be spent."""

    id: uuid.UUID
    budget_id: uuid.UUID
    stream_id: uuid.UUID
    amount: int
    status: AllocationStatus
    confirmed_at: datetime | None
    created_at: datetime


def _check_cap(stream: FundingStream, *, allocated: int, amount: int) -> None:
    if stream.cap_amount is not None and allocated + amount > stream.cap_amount:
        raise OverCap(
            f"{stream.name} may give one budget at most {format_pence(stream.cap_amount)};"
            f" {format_pence(allocated)} is confirmed already, so {format_pence(amount)} more"
            " would pass the cap.",
            cap_amount=stream.cap_amount,
            allocated=allocated,
        )


async def _confirm_into_ledger(
    session: AsyncSession, *, allocation: Allocation, stream: FundingStream, currency: str
) -> None:
    """Check the cap with the budget locked, then move the money into the stream's pot."""
    accounts = await ensure_accounts(
        session, budget_id=allocation.budget_id, stream_id=stream.id, currency=currency
    )
    allocated = await session.scalar(
        select(Account.debits_posted - Account.credits_posted)
        .where(Account.id == accounts.contribution)
        .with_for_update(key_share=True)
    )
    _check_cap(stream, allocated=int(allocated or 0), amount=allocation.amount)
    transfer = TransferSpec(
        id=uuid.uuid5(allocation.id, "confirm"),
        debit_account_id=accounts.contribution,
        credit_account_id=accounts.pot,
        amount=allocation.amount,
        kind=TransferKind.POSTED,
        code=ALLOCATION_CODE,
    )
    await post_batch(
        session, budget_id=allocation.budget_id, transfers=[transfer], reference_id=allocation.id
    )
    allocation.status = AllocationStatus.CONFIRMED
    allocation.confirmed_at = recorded_time(session) or func.now()


async def _refreshed_view(session: AsyncSession, allocation: Allocation) -> AllocationView:
    await session.flush()
    await session.refresh(allocation)
    return view_of(AllocationView, allocation)


async def allocations_of(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_ids: Sequence[uuid.UUID] = (),
    allocation_ids: Sequence[uuid.UUID] = (),
) -> list[AllocationView]:
    """Allocations on budgets within reach, oldest first: those of `budget_ids`, or those
    named by `allocation_ids`."""
    require_scope(caller, "budgets:read")
    rows = await session.scalars(
        select(Allocation)
        .where(
            Allocation.budget_id.in_(budget_ids) | Allocation.id.in_(allocation_ids),
            budgets_reached(Allocation.budget_id, caller.agency_id),
        )
        .order_by(Allocation.created_at, Allocation.id)
    )
    return [view_of(AllocationView, row) for row in rows]


async def create_allocation(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    stream_id: uuid.UUID,
    amount: int,
    status: AllocationStatus,
    allocation_id: uuid.UUID | None = None,
) -> AllocationView:
    """Allocate from one of the caller's streams; confirmed money lands in the pot at once."""
    require_scope(caller, "allocations:write")
    stream = await find_stream(session, stream_id=stream_id, agency_id=caller.agency_id)
    budget = await lock_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    if stream.cap_amount is not None and amount > stream.cap_amount:
        _check_cap(stream, allocated=0, amount=amount)
    allocation = Allocation(
        id=allocation_id or uuid.uuid4(),
        budget_id=budget.id,
        stream_id=stream.id,
        amount=amount,
        status=AllocationStatus.INDICATIVE,
    )
    if (when := recorded_time(session)) is not None:
        allocation.created_at = when
    session.add(allocation)
    await session.flush()
    if status is AllocationStatus.CONFIRMED:
        await _confirm_into_ledger(
            session, allocation=allocation, stream=stream, currency=budget.currency
        )
    else:
        await ensure_accounts(
            session, budget_id=budget.id, stream_id=stream.id, currency=budget.currency
        )
    return await _refreshed_view(session, allocation)


async def confirm_allocation(
    session: AsyncSession, caller: Caller, *, allocation_id: uuid.UUID
) -> AllocationView:
    """Confirm an indicative allocation; only the agency whose stream it is may."""
    require_scope(caller, "allocations:write")
    row = (
        await session.execute(
            select(Allocation, FundingStream, Budget.currency)
            .join(FundingStream, FundingStream.id == Allocation.stream_id)
            .join(Budget, Budget.id == Allocation.budget_id)
            .where(Allocation.id == allocation_id, budget_in_reach(caller.agency_id))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No allocation {allocation_id} is within your reach.")
    allocation, stream, currency = row
    if stream.agency_id != caller.agency_id:
        raise ForbiddenRole(
            "Only the agency whose stream this allocation comes from may confirm it.",
            allowed=["agency owning the stream"],
        )
    await lock_budget(session, budget_id=allocation.budget_id, within_reach_of=caller.agency_id)
    await session.refresh(allocation)
    if allocation.status == AllocationStatus.CONFIRMED:
        raise AlreadyConfirmed("This allocation is confirmed already; its money is in the pot.")
    await _confirm_into_ledger(session, allocation=allocation, stream=stream, currency=currency)
    return await _refreshed_view(session, allocation)
