"""Spends, commitments and reversals, and the per-stream lines the pooling engine chose."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlmodel import Field

from service.api.fields import PENCE, Amount, Description
from service.domain.vocabulary import Approval, Category, SpendKind, SpendStatus, sql_in
from service.models_base import AWARE, Col, OneBudgetModel, Vocab, Vocabulary, created_at


class SpendBase(OneBudgetModel):
    """What a spend or commitment is for and how much, as asked, stored and shown."""

    amount: Col[Amount] = Field(sa_type=BigInteger, description=PENCE)
    category: Vocab[Category] = Field(sa_type=Vocabulary(Category, 40))
    description: Col[Description] = Field(sa_type=String(500))


class Spend(SpendBase, table=True):
    """Money out of a budget. `kind` tells a spend, a commitment (held money) or a reversal."""

    __tablename__ = "spend"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(sql_in("kind", SpendKind), name="kind"),
        CheckConstraint(sql_in("status", SpendStatus), name="status"),
        Index("ix_spend_budget_id_created_at", "budget_id", "created_at"),
    )

    id: Col[uuid.UUID] = Field(primary_key=True)
    budget_id: Col[uuid.UUID] = Field(foreign_key="budget.id")
    kind: Vocab[SpendKind] = Field(sa_type=Vocabulary(SpendKind, 20))
    status: Vocab[SpendStatus] = Field(sa_type=Vocabulary(SpendStatus, 20))
    posted_amount: Col[int | None] = Field(default=None, sa_type=BigInteger)
    payee: Col[str | None] = Field(default=None, sa_type=String(200))
    occurred_on: Col[date | None] = Field(default=None)
    expires_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    reverses_id: Col[uuid.UUID | None] = Field(default=None, foreign_key="spend.id", unique=True)
    client_id: Col[uuid.UUID] = Field(foreign_key="oauth_client.id")
    version: Col[int] = Field(default=1)
    created_at: Col[datetime] = created_at()


class SpendLineBase(OneBudgetModel):
    """The share one stream pays of a spend, with the engine's reason and any approval."""

    stream_id: Col[uuid.UUID] = Field(foreign_key="funding_stream.id", index=True)
    agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id")
    amount: Col[Amount] = Field(sa_type=BigInteger, description=PENCE)
    reason: Col[str] = Field(sa_type=String(500))
    approval: Vocab[Approval] = Field(sa_type=Vocabulary(Approval, 20))


class SpendLine(SpendLineBase, table=True):
    """One line of a spend, tied to the ledger transfer that moved its money."""

    __tablename__ = "spend_line"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(sql_in("approval", Approval), name="approval"),
    )

    spend_id: Col[uuid.UUID] = Field(foreign_key="spend.id", primary_key=True)
    position: Col[int] = Field(primary_key=True)
    transfer_id: Col[uuid.UUID] = Field(foreign_key="transfer.id")


@dataclass(slots=True, kw_only=True)
class NewSpend:
    """The values of a spend (commitment, reversal) row RECORD is about to write.

    A plain value, not the Spend table model: RECORD writes the row itself, and building a
    SQLModel table object (attribute instrumentation) cost about 50 us of a spend's CPU.
    """

    id: uuid.UUID
    budget_id: uuid.UUID
    kind: SpendKind
    status: SpendStatus
    amount: int
    category: Category
    description: str
    client_id: uuid.UUID
    payee: str | None = None
    occurred_on: date | None = None
    expires_at: datetime | None = None
    reverses_id: uuid.UUID | None = None
    posted_amount: int | None = None
    version: int = 1
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLine:
    """The values of a spend_line row RECORD is about to write (see NewSpend)."""

    spend_id: uuid.UUID
    position: int
    stream_id: uuid.UUID
    agency_id: uuid.UUID
    amount: int
    reason: str
    approval: Approval
    transfer_id: uuid.UUID
