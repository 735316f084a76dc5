"""Request and response shapes for funding streams."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from service.api.fields import Name, OptionalLimit, RequestModel, ResponseModel, not_null
from service.domain.vocabulary import Category, StreamKind, Unspent

Categories = Annotated[list[Category], Field(min_length=1, max_length=len(Category))]


class StreamIn(RequestModel):
    """A new stream of the caller's agency. No categories means flexible money."""

    name: Name
    kind: StreamKind
    categories: Categories | None = None
    unspent: Literal["return", "carry_forward"]
    cap_amount: Annotated[OptionalLimit, Field(gt=0)] | None = None
    approval_threshold_amount: OptionalLimit | None = None


class StreamPatch(RequestModel):
    """Fields of a stream an agency may change; send only those that change."""

    name: Name | None = None
    cap_amount: Annotated[OptionalLimit, Field(gt=0)] | None = None
    approval_threshold_amount: OptionalLimit | None = None

    _not_null = not_null("name")  # null caps and thresholds mean "none"; a name must stay


class StreamOut(ResponseModel):
    """A funding stream and its rules."""

    id: uuid.UUID
    agency_id: uuid.UUID
    name: str
    kind: StreamKind
    categories: list[Category] | None
    unspent: Unspent
    cap_amount: int | None
    approval_threshold_amount: int | None
    created_at: datetime
