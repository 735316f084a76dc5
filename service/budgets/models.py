"""Budgets and the agencies that fund them."""

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk

DEPLOYMENTS = ("direct_payment", "managed", "individual_service_fund", "third_party", "mixed")


class Budget(Base):
    """One person's individual budget for one period, led by one agency."""

    __tablename__ = "budget"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint(f"deployment IN {DEPLOYMENTS!r}", name="deployment"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    lead_agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    deployment: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()


class BudgetFunder(Base):
    """A partner agency the lead agency brought onto a budget."""

    __tablename__ = "budget_funder"

    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"), primary_key=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = created_at()
