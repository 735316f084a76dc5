"""Ledger tables: accounts with running counters, and immutable transfers between them.

These two stay on plain SQLAlchemy (sharing the one MetaData): no API schema repeats their
fields, and the hot path builds Core statements from their typed column attributes
(`aliased(Account)`, `pot.credits_posted - pot.debits_posted`), which SQLModel would type
as plain ints.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.domain.ledger import AccountKind, TransferKind
from service.domain.vocabulary import sql_in
from service.models_base import Base, Vocabulary


def created_at() -> Mapped[datetime]:
    """When the row was written, by the database clock."""
    return mapped_column(server_default=func.now())


class Account(Base):
    """One (budget, stream, kind) account. Counters are updated with every transfer.

    The pot may never go below zero; the CHECK makes the database refuse it inside the
    very statement that moves the money, so no read-then-write race can overdraw it.
    """

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("budget_id", "stream_id", "kind"),
        CheckConstraint(sql_in("kind", AccountKind), name="kind"),
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0"
            " AND credits_pending >= 0 AND credits_posted >= 0",
            name="counters_not_negative",
        ),
        CheckConstraint(
            "kind <> 'pot' OR credits_posted - debits_posted - debits_pending >= 0",
            name="pot_not_overdrawn",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"))
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_stream.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at()


class Transfer(Base):
    """Money moved from one account to another of the same budget. Never updated or deleted.

    A pending transfer is resolved at most once (unique pending_id) by a post or a void.
    """

    __tablename__ = "transfer"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint(sql_in("kind", TransferKind), name="kind"),
        CheckConstraint(
            "(kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL)",
            name="resolution_names_pending",
        ),
        Index("ix_transfer_budget_id_seq", "budget_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[TransferKind] = mapped_column(Vocabulary(TransferKind, 20))
    pending_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfer.id"), unique=True)
    code: Mapped[str] = mapped_column(String(40))
    batch_id: Mapped[uuid.UUID]
    reference_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = created_at()
