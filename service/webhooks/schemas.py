"""Request and response shapes for webhook endpoints and their delivery log."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from service.api.fields import RequestModel, ResponseModel
from service.domain.vocabulary import EventType


def _distinct(events: list[EventType] | None) -> list[EventType] | None:
    if events is not None and len(set(events)) != len(events):
        raise ValueError("must not name an event type twice")
    return events


class WebhookEndpointIn(RequestModel):
    """A URL of your system to tell of changes to the budgets your agency reaches."""

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="https URL at a public address (no user:password); called with POST",
    )
    events: Annotated[
        list[EventType] | None,
        Field(min_length=1, description="Event types to send; leave out for every type"),
        AfterValidator(_distinct),
    ] = None


class WebhookEndpointOut(ResponseModel):
    """A webhook endpoint of your agency (its signing secret is shown only on creation)."""

    id: uuid.UUID
    url: str
    events: list[EventType] | None = Field(description="null: every event type, new ones too")
    created_at: datetime
    disabled_at: datetime | None = Field(
        description="When it stopped getting messages (it answered 410 Gone)"
    )
    disabled_reason: str | None


class WebhookEndpointCreated(WebhookEndpointOut):
    """A new endpoint, with the secret that signs its messages: shown in this answer only."""

    secret: str = Field(description="whsec_...: verify each message's signature with it")


class DeliveryOut(ResponseModel):
    """One attempt to deliver a message to the endpoint."""

    id: int
    event_id: uuid.UUID = Field(description="The message's webhook-id (the same at every attempt)")
    event_type: EventType
    budget_id: uuid.UUID
    attempt: int = Field(description="1 for the first try, then 2, 3, ...")
    started_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="The endpoint's answer; null if none came")
    error: str | None = Field(description="Why it failed, if it did")
    delivered: bool
