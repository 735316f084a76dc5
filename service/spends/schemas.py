"""Request and response shapes for spends, commitments and reversals."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from service.api.fields import Amount, Description, Name, RequestModel, ResponseModel
from service.api.times import AwareInstant
from service.domain.vocabulary import Category


class SplitIn(RequestModel):
    """The person's own choice of how much a stream pays."""

    stream_id: uuid.UUID
    amount: Amount


class SpendIn(RequestModel):
    """A purchase paid from the budget; the pooling engine chooses the streams unless split."""

    amount: Amount
    category: Category
    description: Description
    occurred_on: date
    payee: Name | None = None
    split: Annotated[list[SplitIn], Field(min_length=1, max_length=50)] | None = None


class CommitmentIn(RequestModel):
    """Money to hold for booked support until it is posted, voided or expires."""

    amount: Amount
    category: Category
    description: Description
    expires_at: AwareInstant


class CommitmentPostIn(RequestModel):
    """How much of a commitment to pay; the rest is released. Leave out to pay it all."""

    amount: Amount | None = None


class LineOut(ResponseModel):
    """What one stream paid, and why."""

    stream_id: uuid.UUID
    agency_id: uuid.UUID
    amount: int
    reason: str
    approval: Literal["not_needed", "awaiting", "approved", "rejected"]


class SpendOut(ResponseModel):
    """A spend and its split across streams."""

    id: uuid.UUID
    budget_id: uuid.UUID
    status: Literal["posted", "pending_approval", "rejected", "reversed"]
    amount: int
    category: Category
    description: str
    occurred_on: date
    payee: str | None
    created_at: datetime
    lines: list[LineOut]


class CommitmentOut(ResponseModel):
    """Money held for booked support."""

    id: uuid.UUID
    budget_id: uuid.UUID
    status: Literal["pending", "pending_approval", "rejected", "posted", "voided", "expired"]
    amount: int
    posted_amount: int | None
    category: Category
    description: str
    expires_at: datetime
    created_at: datetime
    lines: list[LineOut]


class ReversalOut(ResponseModel):
    """Money returned to the streams that paid a spend, in the amounts each paid."""

    id: uuid.UUID
    spend_id: uuid.UUID
    budget_id: uuid.UUID
    amount: int
    created_at: datetime
    lines: list[LineOut]
