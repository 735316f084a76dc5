"""Allocating stream money to budgets, confirming it into the ledger, and adjusting it.

An agency allocates only from its own streams, to a budget it leads or funds; only the
agency whose stream it is confirms or adjusts an allocation. An adjustment (the award was
amended or withdrawn) tops up or takes back by a transfer, never by editing one; a
take-back takes only money free in the pot (service.domain.adjustments).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.errors import AllocationWithdrawn, AlreadyConfirmed, NoChange, OverCap
from service.allocations.models import Allocation, AllocationAdjustment
from service.auth.caller import Caller
from service.budgets.models import Budget
from service.domain.adjustments import plan_adjustment
from service.domain.errors import ForbiddenRole, NotFound
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import format_pence
from service.domain.vocabulary import AllocationStatus, EventType
from service.events.publish import budget_changed
from service.ledger.clock import recorded_time
from service.ledger.models import Account
from service.ledger.repository import (
    LockedBudget,
    StreamAccounts,
    ensure_accounts,
    lock_budget,
    post_batch,
)
from service.policy import budget_in_reach, budgets_reached, require_scope
from service.streams.models import FundingStream
from service.streams.repository import find_stream
from service.views import view_of
from service.webhooks.events import Event, allocation_event
from service.webhooks.outbox import publish

ALLOCATION_CODE, ADJUSTMENT_CODE = "allocation", "adjustment"


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


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    """One change to an allocation: asked for, made, and what stayed (spent or held)."""

    id: uuid.UUID
    allocation_id: uuid.UUID
    requested_amount: int
    applied_amount: int
    unmet_amount: int
    amount_after: int
    reason: str
    transfer_id: uuid.UUID | None
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


def _check_indicative_cap(stream: FundingStream, *, amount: int) -> None:
    """An amount over the cap on its own is refused at once, before any money moves."""
    if stream.cap_amount is not None and amount > stream.cap_amount:
        _check_cap(stream, allocated=0, amount=amount)


async def _allocated(session: AsyncSession, accounts: StreamAccounts) -> int:
    """What the stream has confirmed into the budget so far (the budget is locked)."""
    allocated = await session.scalar(
        select(Account.debits_posted - Account.credits_posted)
        .where(Account.id == accounts.contribution)
        .with_for_update(key_share=True)
    )
    return int(allocated or 0)


async def _move(
    session: AsyncSession,
    *,
    allocation: Allocation,
    stream: FundingStream,
    currency: str,
    change: int,
    transfer_id: uuid.UUID,
    code: str,
    event: Event,
) -> None:
    """Move `change` pence between the stream's contribution and its pot (+ into the pot);
    money in is judged against the cap, money out by the pot's own CHECK. The webhook
    `event` goes out with the money."""
    accounts = await ensure_accounts(
        session, budget_id=allocation.budget_id, stream_id=stream.id, currency=currency
    )
    if change > 0:
        _check_cap(stream, allocated=await _allocated(session, accounts), amount=change)
    inward = (accounts.contribution, accounts.pot)
    debit, credit = inward if change > 0 else inward[::-1]
    transfer = TransferSpec(
        id=transfer_id,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=abs(change),
        kind=TransferKind.POSTED,
        code=code,
    )
    await post_batch(
        session,
        budget_id=allocation.budget_id,
        transfers=[transfer],
        reference_id=allocation.id,
        events=[event],
    )


async def _confirm_into_ledger(
    session: AsyncSession, *, allocation: Allocation, stream: FundingStream, currency: str
) -> None:
    """Check the cap with the budget locked, then move the money into the stream's pot."""
    await _move(
        session,
        allocation=allocation,
        stream=stream,
        currency=currency,
        change=allocation.amount,
        transfer_id=uuid.uuid5(allocation.id, "confirm"),
        code=ALLOCATION_CODE,
        event=allocation_event(
            EventType.ALLOCATION_CONFIRMED,
            budget_id=allocation.budget_id,
            allocation_id=allocation.id,
            stream_id=stream.id,
            amount=allocation.amount,
        ),
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
    award_reference: str | None = None,
) -> AllocationView:
    """Allocate from one of the caller's streams; confirmed money lands in the pot at once.

    `award_reference` is the agency's own reference for the award (service.allocations.awards).
    """
    require_scope(caller, "allocations:write")
    stream = await find_stream(session, stream_id=stream_id, agency_id=caller.agency_id)
    budget = await lock_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    _check_indicative_cap(stream, amount=amount)
    allocation = Allocation(
        id=allocation_id or uuid.uuid4(),
        budget_id=budget.id,
        stream_id=stream.id,
        amount=amount,
        status=AllocationStatus.INDICATIVE,
        award_reference=award_reference,
        award_amount=amount if award_reference is not None else None,
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
        # Indicative money moves nothing in the ledger, but the budget shows it.
        await budget_changed(session, budget_id=budget.id)
    return await _refreshed_view(session, allocation)


@dataclass(frozen=True, slots=True)
class LockedAllocation:
    """An allocation of the caller's stream, read after its budget was locked."""

    allocation: Allocation
    stream: FundingStream
    budget: LockedBudget

    def available(self) -> int:
        """What the stream's pot has free (not spent, not held), as the lock read it."""
        return next((p.available for p in self.budget.pots if p.stream_id == self.stream.id), 0)


async def lock_own_allocation(
    session: AsyncSession, caller: Caller, *, allocation_id: uuid.UUID, action: str
) -> LockedAllocation:
    """An allocation of the caller's stream with its stream and budget, the budget locked and
    the allocation read after the lock. 404 outside reach; 403 for the budget's other
    agencies (`action` says what they may not do)."""
    row = (
        await session.execute(
            select(Allocation, FundingStream)
            .join(FundingStream, FundingStream.id == Allocation.stream_id)
            .join(Budget, Budget.id == Allocation.budget_id)
            .where(Allocation.id == allocation_id, budget_in_reach(caller.agency_id))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No allocation {allocation_id} is within your reach.")
    allocation, stream = row
    if stream.agency_id != caller.agency_id:
        raise ForbiddenRole(
            f"Only the agency whose stream this allocation comes from may {action} it.",
            allowed=["agency owning the stream"],
        )
    budget = await lock_budget(
        session, budget_id=allocation.budget_id, within_reach_of=caller.agency_id
    )
    await session.refresh(allocation)
    return LockedAllocation(allocation, stream, budget)


async def confirm_locked(session: AsyncSession, locked: LockedAllocation) -> None:
    """Confirm a locked indicative allocation: its money moves into the pot."""
    allocation = locked.allocation
    if allocation.status == AllocationStatus.CONFIRMED:
        raise AlreadyConfirmed("This allocation is confirmed already; its money is in the pot.")
    if allocation.amount == 0:
        raise AllocationWithdrawn(
            "This allocation's award was withdrawn; there is nothing to confirm."
        )
    await _confirm_into_ledger(
        session, allocation=allocation, stream=locked.stream, currency=locked.budget.currency
    )


async def confirm_allocation(
    session: AsyncSession, caller: Caller, *, allocation_id: uuid.UUID
) -> AllocationView:
    """Confirm an indicative allocation; only the agency whose stream it is may."""
    require_scope(caller, "allocations:write")
    locked = await lock_own_allocation(
        session, caller, allocation_id=allocation_id, action="confirm"
    )
    await confirm_locked(session, locked)
    return await _refreshed_view(session, locked.allocation)


async def adjust_locked(
    session: AsyncSession,
    locked: LockedAllocation,
    *,
    amount: int,
    reason: str,
    adjustment_id: uuid.UUID | None = None,
) -> AdjustmentView:
    """Bring a locked allocation to `amount`: a top-up within the cap, or a take-back of at
    most what the pot has free; recorded as an adjustment (and a transfer, once confirmed)."""
    allocation, stream = locked.allocation, locked.stream
    if amount == allocation.amount:
        raise NoChange(f"This allocation is {format_pence(amount)} already; nothing to change.")
    confirmed = allocation.status == AllocationStatus.CONFIRMED
    if not confirmed:
        _check_indicative_cap(stream, amount=amount)
    available = locked.available() if confirmed else None
    plan = plan_adjustment(current=allocation.amount, target=amount, available=available)
    adjustment = AllocationAdjustment(
        id=adjustment_id or uuid.uuid4(),
        allocation_id=allocation.id,
        requested_amount=plan.requested,
        applied_amount=plan.applied,
        unmet_amount=plan.unmet,
        amount_after=allocation.amount + plan.applied,
        reason=reason,
    )
    event = allocation_event(
        EventType.ALLOCATION_ADJUSTED,
        budget_id=allocation.budget_id,
        allocation_id=allocation.id,
        stream_id=stream.id,
        amount=adjustment.amount_after,
        status=allocation.status,
        adjustment_id=str(adjustment.id),
        requested_amount=plan.requested,
        applied_amount=plan.applied,
        unmet_amount=plan.unmet,
    )
    if confirmed and plan.applied != 0:
        adjustment.transfer_id = uuid.uuid5(adjustment.id, "adjust")
        await _move(
            session,
            allocation=allocation,
            stream=stream,
            currency=locked.budget.currency,
            change=plan.applied,
            transfer_id=adjustment.transfer_id,
            code=ADJUSTMENT_CODE,
            event=event,
        )
    else:
        # No money moves (indicative, or nothing free to take back), but the budget shows it.
        await budget_changed(session, budget_id=allocation.budget_id)
        await publish(session, budget_id=allocation.budget_id, events=[event])
    allocation.amount = adjustment.amount_after
    if (when := recorded_time(session)) is not None:
        adjustment.created_at = when
    session.add(adjustment)
    await session.flush()
    await session.refresh(adjustment)
    return view_of(AdjustmentView, adjustment)


async def adjust_allocation(
    session: AsyncSession,
    caller: Caller,
    *,
    allocation_id: uuid.UUID,
    amount: int,
    reason: str,
    adjustment_id: uuid.UUID | None = None,
) -> AdjustmentView:
    """Bring an allocation of the caller's stream to `amount`, its award as amended (0 when
    withdrawn): a top-up within the cap, or a take-back of at most what the pot has free."""
    require_scope(caller, "allocations:write")
    locked = await lock_own_allocation(
        session, caller, allocation_id=allocation_id, action="adjust"
    )
    return await adjust_locked(
        session, locked, amount=amount, reason=reason, adjustment_id=adjustment_id
    )
