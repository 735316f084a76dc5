"""Request and response shapes for budget holders."""

import uuid
from datetime import datetime

from service.api.fields import Name, Reference, RequestModel, SharedRequestModel, omittable
from service.people.models import PersonBase


class PersonIn(PersonBase, SharedRequestModel):
    """A person the calling agency supports."""


class PersonPatch(RequestModel):
    """Fields of a person that may change; send only those that change (never null)."""

    reference: Reference = omittable()
    name: Name = omittable()


class PersonOut(PersonBase):
    """A budget holder."""

    id: uuid.UUID
    created_at: datetime
