"""Allocating stream money to budgets, and confirming it into the ledger."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.models import Allocation
from service.auth.caller import Caller
from service.budgets.models import Budget
from service.domain.errors import DomainError
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import format_pence
from service.errors import NotFound
from service.ledger.models import Account
from service.ledger.repository import ensure_accounts, lock_budget, post_batch
from service.reach import budget_in_reach
from service.streams.models import FundingStream
from service.streams.service import get_stream

ALLOCATION_CODE = "allocation"


class OverCap(DomainError):
    """The stream would give the budget more than its cap."""

    def __init__(self, detail: str, *, cap_amount: int, allocated: int) -> None:
        super().__init__(detail)
        self.cap_amount = cap_amount
        self.allocated = allocated


class AlreadyConfirmed(DomainError):
    """The allocation was confirmed before."""


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
    allocation.status = "confirmed"
    allocation.confirmed_at = func.now()


async def create_allocation(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    stream_id: uuid.UUID,
    amount: int,
    status: str,
) -> Allocation:
    """Allocate from one of the caller's streams; confirmed money lands in the pot at once."""
    stream = await get_stream(session, caller, stream_id)
    budget = await lock_budget(session, agency_id=caller.agency_id, budget_id=budget_id)
    if stream.cap_amount is not None and amount > stream.cap_amount:
        _check_cap(stream, allocated=0, amount=amount)
    allocation = Allocation(
        id=uuid.uuid4(),
        budget_id=budget.id,
        stream_id=stream.id,
        amount=amount,
        status="indicative",
    )
    session.add(allocation)
    await session.flush()
    if status == "confirmed":
        await _confirm_into_ledger(
            session, allocation=allocation, stream=stream, currency=budget.currency
        )
    else:
        await ensure_accounts(
            session, budget_id=budget.id, stream_id=stream.id, currency=budget.currency
        )
    await session.flush()
    await session.refresh(allocation)
    return allocation


async def confirm_allocation(
    session: AsyncSession, caller: Caller, *, allocation_id: uuid.UUID
) -> Allocation:
    """Confirm an indicative allocation of one of the caller's streams."""
    row = (
        await session.execute(
            select(Allocation, FundingStream, Budget.currency)
            .join(FundingStream, FundingStream.id == Allocation.stream_id)
            .join(Budget, Budget.id == Allocation.budget_id)
            .where(
                Allocation.id == allocation_id,
                FundingStream.agency_id == caller.agency_id,
                budget_in_reach(caller.agency_id),
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No allocation {allocation_id} of your agency's streams.")
    allocation, stream, currency = row
    await lock_budget(session, agency_id=caller.agency_id, budget_id=allocation.budget_id)
    await session.refresh(allocation)
    if allocation.status == "confirmed":
        raise AlreadyConfirmed("This allocation is confirmed already; its money is in the pot.")
    await _confirm_into_ledger(session, allocation=allocation, stream=stream, currency=currency)
    await session.flush()
    await session.refresh(allocation)
    return allocation
