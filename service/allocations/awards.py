"""Awards from an agency's own system, applied to budgets idempotently by their reference.

An agency's system (through its adapter) says what it awards: a reference of its own, an
amount, and whether the money is confirmed. Applying an award:
- the first time, allocates it (indicative or confirmed) and remembers the reference;
- again with nothing new, changes nothing;
- amended or withdrawn (amount 0), adjusts the allocation (service.allocations.service):
  a transfer that tops up or takes back, never an edit; a take-back the pot cannot cover
  (spent or held) is reported as unmet and tried again on later applies, as money frees up;
- newly confirmed, confirms the allocation: its money moves into the pot.
"""

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.allocations.models import Allocation
from service.allocations.service import (
    adjust_locked,
    confirm_locked,
    create_allocation,
    lock_own_allocation,
)
from service.auth.caller import Caller
from service.domain.vocabulary import AllocationStatus
from service.policy import require_scope


class AwardChange(StrEnum):
    """What applying an award did to the budget."""

    CREATED = "created"  # allocated for the first time
    UNCHANGED = "unchanged"  # seen before, nothing new
    ADJUSTED = "adjusted"  # amended or withdrawn: topped up or taken back
    CONFIRMED = "confirmed"  # an indicative award confirmed: its money is in the pot
    IGNORED = "ignored"  # withdrawn before onebudget ever allocated it


@dataclass(frozen=True, slots=True)
class AwardOutcome:
    """The result of applying one award; amounts in signed pence."""

    change: AwardChange
    allocation_id: uuid.UUID | None
    moved_amount: int = 0  # into the pot (+) or back to the agency (-), this time
    unmet_amount: int = 0  # what the award takes back but is spent or held, still owed


async def apply_award(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    stream_id: uuid.UUID,
    reference: str,
    amount: int,
    confirmed: bool,
    reason: str,
) -> AwardOutcome:
    """Make the budget reflect the agency's award `reference` of `amount` pence.

    The caller acts for the agency whose stream it is. Safe to repeat: the reference finds
    the allocation made the first time.
    """
    require_scope(caller, "allocations:write")
    allocation_id = await session.scalar(
        select(Allocation.id).where(
            Allocation.stream_id == stream_id, Allocation.award_reference == reference
        )
    )
    if allocation_id is None:
        if amount == 0:
            return AwardOutcome(AwardChange.IGNORED, None)
        status = AllocationStatus.CONFIRMED if confirmed else AllocationStatus.INDICATIVE
        created = await create_allocation(
            session,
            caller,
            budget_id=budget_id,
            stream_id=stream_id,
            amount=amount,
            status=status,
            award_reference=reference,
        )
        return AwardOutcome(AwardChange.CREATED, created.id, amount if confirmed else 0)
    locked = await lock_own_allocation(
        session, caller, allocation_id=allocation_id, action="apply an award to"
    )
    allocation = locked.allocation
    change, moved, unmet = AwardChange.UNCHANGED, 0, 0
    owed_back = allocation.amount - amount  # > 0: a take-back not yet covered
    amended = allocation.award_amount != amount
    retry = owed_back > 0 and allocation.status == AllocationStatus.CONFIRMED
    if allocation.amount != amount and (amended or (retry and locked.available() > 0)):
        adjustment = await adjust_locked(session, locked, amount=amount, reason=reason)
        change, unmet = AwardChange.ADJUSTED, adjustment.unmet_amount
        moved = adjustment.applied_amount if adjustment.transfer_id is not None else 0
    elif owed_back > 0:
        unmet = owed_back if allocation.status == AllocationStatus.CONFIRMED else 0
    allocation.award_amount = amount
    if confirmed and allocation.status == AllocationStatus.INDICATIVE and allocation.amount > 0:
        await confirm_locked(session, locked)
        change, moved = AwardChange.CONFIRMED, moved + allocation.amount
    await session.flush()
    return AwardOutcome(change, allocation.id, moved, unmet)
