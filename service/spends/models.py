"""Spends, commitments and reversals, and the per-stream lines the pooling engine chose."""

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at


class Spend(Base):
    """Money out of a budget. `kind` tells a spend, a commitment (held money) or a reversal."""

    __tablename__ = "spend"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("kind IN ('spend', 'commitment', 'reversal')", name="kind"),
        CheckConstraint(
            "status IN ('posted', 'pending_approval', 'rejected', 'reversed',"
            " 'pending', 'voided', 'expired')",
            name="status",
        ),
        Index("ix_spend_budget_id_created_at", "budget_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    posted_amount: Mapped[int | None] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500))
    payee: Mapped[str | None] = mapped_column(String(200))
    occurred_on: Mapped[date | None]
    expires_at: Mapped[datetime | None]
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("spend.id"), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_client.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()


class SpendLine(Base):
    """The share one stream pays of a spend, with the engine's reason and any approval."""

    __tablename__ = "spend_line"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "approval IN ('not_needed', 'awaiting', 'approved', 'rejected')", name="approval"
        ),
    )

    spend_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spend.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_stream.id"), index=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    approval: Mapped[str] = mapped_column(String(20))
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfer.id"))
