"""Request and response shapes for allocations."""

import uuid
from datetime import datetime

from service.allocations.models import AllocationBase
from service.api.fields import SharedRequestModel


class AllocationIn(AllocationBase, SharedRequestModel):
    """Money one of the caller's streams puts into a budget."""


class AllocationOut(AllocationBase):
    """An allocation; only confirmed money can be spent."""

    id: uuid.UUID
    budget_id: uuid.UUID
    confirmed_at: datetime | None
    created_at: datetime
