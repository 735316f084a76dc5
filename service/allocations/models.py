"""Allocations: money a stream puts into a budget, and the adjustments made to them since."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, text
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
    """Money a stream puts into a budget: indicative first, confirmed when committed.

    `amount` is what the stream gives now: its first amount as changed by every adjustment.
    """

    __tablename__ = "allocation"
    __table_args__ = (
        # Zero once the award is withdrawn in full; never below.
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(sql_in("status", AllocationStatus), name="status"),
        # One allocation per award: seeing an award again finds it instead of adding money.
        Index(
            "uq_allocation_stream_id_award_reference",
            "stream_id",
            "award_reference",
            unique=True,
            postgresql_where=text("award_reference IS NOT NULL"),
        ),
    )

    id: Col[uuid.UUID] = uuid_pk()
    budget_id: Col[uuid.UUID] = Field(foreign_key="budget.id", index=True)
    # The agency's own reference for the award behind this allocation, when it came from the
    # agency's system (service.allocations.awards), and the award's amount as last seen there.
    award_reference: Col[str | None] = Field(default=None, sa_type=String(100))
    award_amount: Col[int | None] = Field(default=None, sa_type=BigInteger)
    confirmed_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    created_at: Col[datetime] = created_at()


class AllocationAdjustment(OneBudgetModel, table=True):
    """One change to an allocation after its award was amended or withdrawn; never edited.

    requested = applied - unmet: a take-back takes only money free in the pot (unmet is
    what stayed because it was spent or held). A confirmed allocation's change moves money
    by `transfer_id`; an indicative one's only changes the amount shown.
    """

    __tablename__ = "allocation_adjustment"
    __table_args__ = (
        CheckConstraint("unmet_amount >= 0", name="unmet_not_negative"),
        CheckConstraint("amount_after >= 0", name="amount_after_not_negative"),
        CheckConstraint(
            "requested_amount = applied_amount - unmet_amount", name="requested_applied_unmet"
        ),
    )

    id: Col[uuid.UUID] = uuid_pk()
    allocation_id: Col[uuid.UUID] = Field(foreign_key="allocation.id", index=True)
    requested_amount: Col[int] = Field(sa_type=BigInteger)
    applied_amount: Col[int] = Field(sa_type=BigInteger)
    unmet_amount: Col[int] = Field(sa_type=BigInteger)
    amount_after: Col[int] = Field(sa_type=BigInteger)
    reason: Col[str] = Field(sa_type=String(500))
    transfer_id: Col[uuid.UUID | None] = Field(default=None, foreign_key="transfer.id")
    created_at: Col[datetime] = created_at()
