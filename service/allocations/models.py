"""Allocations: money a stream puts into a budget."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk


class Allocation(Base):
    """Money a stream puts into a budget: indicative first, confirmed when committed."""

    __tablename__ = "allocation"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('indicative', 'confirmed')", name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"), index=True)
    stream_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_stream.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
