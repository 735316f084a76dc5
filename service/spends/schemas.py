"""Request and response shapes for spends, commitments and reversals."""

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from service.api.fields import Amount, Name, RequestModel, ResponseModel, SharedRequestModel
from service.api.times import AwareInstant
from service.domain.vocabulary import SpendKind, SpendStatus
from service.spends.models import SpendBase, SpendLineBase


class SplitIn(RequestModel):
    """The person's own choice of how much a stream pays."""

    stream_id: uuid.UUID
    amount: Amount


class SpendIn(SpendBase, SharedRequestModel):
    """A purchase paid from the budget; the pooling engine chooses the streams unless split."""

    occurred_on: date
    payee: Name | None = None
    split: Annotated[list[SplitIn], Field(min_length=1, max_length=50)] | None = None


class CommitmentIn(SpendBase, SharedRequestModel):
    """Money to hold for booked support until it is posted, voided or expires."""

    expires_at: AwareInstant


class CommitmentPostIn(RequestModel):
    """How much of a commitment to pay; the rest is released. Leave out to pay it all."""

    amount: Amount | None = None


class LineOut(SpendLineBase):
    """What one stream paid, and why."""


class SpendOut(SpendBase):
    """A spend and its split across streams."""

    id: uuid.UUID
    budget_id: uuid.UUID
    status: SpendStatus
    occurred_on: date
    payee: str | None
    created_at: datetime
    lines: list[LineOut]


class CommitmentOut(SpendBase):
    """Money held for booked support."""

    id: uuid.UUID
    budget_id: uuid.UUID
    status: SpendStatus
    posted_amount: int | None
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


class AwaitingOut(SpendBase):
    """A spend or commitment with a line awaiting your agency's approval."""

    kind: SpendKind
    id: uuid.UUID
    budget_id: uuid.UUID
    status: SpendStatus
    payee: str | None
    occurred_on: date | None
    expires_at: datetime | None
    created_at: datetime
    lines: list[LineOut]
