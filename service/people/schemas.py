"""Request and response shapes for budget holders."""

import uuid
from datetime import date, datetime

from pydantic import field_validator

from service.api.fields import Name, Reference, RequestModel, ResponseModel, not_null


class PersonIn(RequestModel):
    """A person the calling agency supports."""

    reference: Reference
    name: Name
    date_of_birth: date

    @field_validator("date_of_birth")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("must be between 1900-01-01 and today")
        return value


class PersonPatch(RequestModel):
    """Fields of a person that may change; send only those that change."""

    reference: Reference | None = None
    name: Name | None = None

    _not_null = not_null("reference", "name")


class PersonOut(ResponseModel):
    """A budget holder."""

    id: uuid.UUID
    reference: str
    name: str
    date_of_birth: date
    created_at: datetime
