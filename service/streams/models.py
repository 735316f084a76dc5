"""Funding streams: one agency's pot of money and the rules that come with it."""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk


class FundingStream(Base):
    """A stream's rules are data: categories (None = flexible), caps and thresholds."""

    __tablename__ = "funding_stream"
    __table_args__ = (
        CheckConstraint("cap_amount IS NULL OR cap_amount > 0", name="cap_positive"),
        CheckConstraint(
            "approval_threshold_amount IS NULL OR approval_threshold_amount >= 0",
            name="threshold_not_negative",
        ),
        CheckConstraint("unspent IN ('return', 'carry_forward')", name="unspent"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(String(40)))
    unspent: Mapped[str] = mapped_column(String(20))
    cap_amount: Mapped[int | None] = mapped_column(BigInteger)
    approval_threshold_amount: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()
