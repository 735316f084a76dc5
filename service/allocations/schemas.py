"""Request and response shapes for allocations."""

import uuid
from datetime import datetime

from pydantic import Field

from service.allocations.models import AllocationBase
from service.api.fields import (
    PENCE,
    Description,
    OptionalLimit,
    RequestModel,
    ResponseModel,
    SharedRequestModel,
)


class AllocationIn(AllocationBase, SharedRequestModel):
    """Money one of the caller's streams puts into a budget."""


class AllocationOut(AllocationBase):
    """An allocation; only confirmed money can be spent."""

    amount: int = Field(ge=0, description=f"{PENCE}: what the stream gives now (0: withdrawn)")
    id: uuid.UUID
    budget_id: uuid.UUID
    confirmed_at: datetime | None
    created_at: datetime


class AdjustmentIn(RequestModel):
    """The allocation's new amount, as the agency's award now stands (0: withdrawn)."""

    amount: OptionalLimit = Field(description=PENCE)
    reason: Description


class AdjustmentOut(ResponseModel):
    """One change to an allocation, signed (+ tops up): requested = applied - unmet."""

    id: uuid.UUID
    allocation_id: uuid.UUID
    requested_amount: int = Field(description=f"{PENCE}: the change the new amount asks for")
    applied_amount: int = Field(description=f"{PENCE}: the change made")
    unmet_amount: int = Field(
        ge=0, description=f"{PENCE}: what could not be taken back, being spent or held"
    )
    amount_after: int = Field(ge=0, description=f"{PENCE}: the allocation's amount now")
    reason: str
    transfer_id: uuid.UUID | None = Field(
        description="The ledger transfer that moved the money (none while indicative)"
    )
    created_at: datetime
