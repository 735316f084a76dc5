"""Request and response shapes for budgets and their balances."""

import uuid
from datetime import datetime

from pydantic import model_validator

from service.api.fields import RequestModel, ResponseModel, SharedRequestModel
from service.budgets.models import BudgetBase, BudgetFunderBase
from service.domain.ledger import TransferKind
from service.domain.vocabulary import Deployment


class BudgetIn(BudgetBase, SharedRequestModel):
    """A person's budget for one period; the calling agency leads it."""

    @model_validator(mode="after")
    def _period(self) -> "BudgetIn":
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        if (self.ends_on - self.starts_on).days > 5 * 366:
            raise ValueError("a budget period is at most five years")
        return self


class BudgetPatch(RequestModel):
    """Fields of a budget the lead agency may change."""

    deployment: Deployment


class FunderIn(RequestModel):
    """A partner agency to bring onto the budget."""

    agency_id: uuid.UUID


class FunderOut(BudgetFunderBase):
    """An agency funding a budget."""

    created_at: datetime


class Money(ResponseModel):
    """Money on a budget, in pence. allocated = available + pending + spent + returned."""

    allocated: int
    available: int
    pending: int
    spent: int
    returned: int
    indicative: int


class Totals(Money):
    """The whole budget's money."""


class StreamTotals(Money):
    """One stream's share of a budget, named so the person can tell their streams apart."""

    stream_id: uuid.UUID
    agency_id: uuid.UUID
    name: str


class BudgetOut(BudgetBase):
    """A budget with its per-stream balances."""

    id: uuid.UUID
    lead_agency_id: uuid.UUID
    created_at: datetime
    totals: Totals
    streams: list[StreamTotals]


class StatementOut(ResponseModel):
    """A budget's totals and streams as they stood at `as_of`."""

    budget_id: uuid.UUID
    as_of: datetime
    currency: str
    totals: Totals
    streams: list[StreamTotals]


class TransferOut(ResponseModel):
    """One ledger transfer, as a partner reads it."""

    id: uuid.UUID
    stream_id: uuid.UUID
    debit_account: str
    credit_account: str
    amount: int
    kind: TransferKind
    pending_id: uuid.UUID | None
    code: str
    reference_id: uuid.UUID | None
    created_at: datetime
