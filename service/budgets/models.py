"""Budgets and the agencies that fund them."""

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, String
from sqlmodel import Field

from service.api.fields import Currency
from service.domain.vocabulary import Deployment, sql_in
from service.models_base import Col, OneBudgetModel, Vocab, Vocabulary, created_at, uuid_pk


class BudgetBase(OneBudgetModel):
    """A budget's holder, period, currency and deployment, as stored and as shown."""

    person_id: Col[uuid.UUID] = Field(foreign_key="person.id", index=True)
    starts_on: Col[date]
    ends_on: Col[date]
    currency: Col[Currency] = Field(default="GBP", sa_type=String(3))
    deployment: Vocab[Deployment] = Field(sa_type=Vocabulary(Deployment, 30))


class Budget(BudgetBase, table=True):
    """One person's individual budget for one period, led by one agency."""

    __tablename__ = "budget"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint(sql_in("deployment", Deployment), name="deployment"),
    )

    id: Col[uuid.UUID] = uuid_pk()
    lead_agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", index=True)
    version: Col[int] = Field(default=1)
    created_at: Col[datetime] = created_at()


class BudgetFunderBase(OneBudgetModel):
    """A partner agency on a budget, as stored and as shown."""

    budget_id: Col[uuid.UUID] = Field(foreign_key="budget.id", primary_key=True)
    agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", primary_key=True, index=True)


class BudgetFunder(BudgetFunderBase, table=True):
    """A partner agency the lead agency brought onto a budget."""

    __tablename__ = "budget_funder"

    created_at: Col[datetime] = created_at()
