"""Request and response shapes for funding streams."""

import uuid
from datetime import datetime

from service.api.fields import (
    Name,
    OptionalLimit,
    PositiveLimit,
    RequestModel,
    SharedRequestModel,
    omittable,
)
from service.streams.models import FundingStreamBase


class StreamIn(FundingStreamBase, SharedRequestModel):
    """A new stream of the caller's agency. No categories means flexible money."""


class StreamPatch(RequestModel):
    """Fields of a stream an agency may change; send only those that change.

    The name is never null; a null cap or threshold removes it.
    """

    name: Name = omittable()
    cap_amount: PositiveLimit | None = None
    approval_threshold_amount: OptionalLimit | None = None


class StreamOut(FundingStreamBase):
    """A funding stream and its rules."""

    id: uuid.UUID
    agency_id: uuid.UUID
    created_at: datetime
