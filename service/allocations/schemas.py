"""Request and response shapes for allocations."""

import uuid
from datetime import datetime
from typing import Literal

from service.api.fields import Amount, RequestModel, ResponseModel


class AllocationIn(RequestModel):
    """Money one of the caller's streams puts into a budget."""

    stream_id: uuid.UUID
    amount: Amount
    status: Literal["indicative", "confirmed"]


class AllocationOut(ResponseModel):
    """An allocation; only confirmed money can be spent."""

    id: uuid.UUID
    budget_id: uuid.UUID
    stream_id: uuid.UUID
    amount: int
    status: Literal["indicative", "confirmed"]
    confirmed_at: datetime | None
    created_at: datetime
