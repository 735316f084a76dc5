"""People who hold budgets. Personal data: reached only by agencies that serve them."""

import uuid
from datetime import date, datetime

from pydantic import field_validator
from sqlalchemy import Index, String
from sqlmodel import Field

from service.api.fields import Name, Reference
from service.models_base import Col, OneBudgetModel, created_at, uuid_pk


class PersonBase(OneBudgetModel):
    """What the registering agency says about a person, as stored and as shown."""

    reference: Col[Reference] = Field(sa_type=String(100))
    name: Col[Name] = Field(sa_type=String(200))
    date_of_birth: Col[date]

    @field_validator("date_of_birth")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("must be between 1900-01-01 and today")
        return value


class Person(PersonBase, table=True):
    """A budget holder, registered by one agency."""

    __tablename__ = "person"
    # An agency's award names its person by reference: each synced award looks one up
    # (service.budgets.service.budget_for_award), which scanned every person without it.
    __table_args__ = (Index("ix_person_reference", "reference"),)

    id: Col[uuid.UUID] = uuid_pk()
    registered_by_agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", index=True)
    version: Col[int] = Field(default=1)
    created_at: Col[datetime] = created_at()
