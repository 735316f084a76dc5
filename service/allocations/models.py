"""Allocations: money a stream puts into a budget."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field

from service.api.fields import PENCE, Amount
from service.domain.vocabulary import AllocationStatus, sql_in
from service.models_base import AWARE, Col, OneBudgetModel, Vocab, Vocabulary, created_at, uuid_pk


class AllocationBase(OneBudgetModel):
    """Which stream puts how much into a budget, and whether it is confirmed yet."""

    stream_id: Col[uuid.UUID] = Field(foreign_key="funding_stream.id", index=True)
    amount: Col[Amount] = Field(sa_type=BigInteger, description=PENCE)
    status: Vocab[AllocationStatus] = Field(sa_type=Vocabulary(AllocationStatus, 20))


class Allocation(AllocationBase, table=True):
    """Money a stream puts into a budget: indicative first, confirmed when committed."""

    __tablename__ = "allocation"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(sql_in("status", AllocationStatus), name="status"),
    )

    id: Col[uuid.UUID] = uuid_pk()
    budget_id: Col[uuid.UUID] = Field(foreign_key="budget.id", index=True)
    confirmed_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    created_at: Col[datetime] = created_at()
