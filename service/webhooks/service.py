"""An agency's webhook endpoints: register, read, delete, and read each one's delivery log.

An endpoint belongs to the agency that registered it; another agency's is 404, as if it did
not exist. It hears of every budget its agency leads or funds (service.webhooks.outbox).
Its signing secret is made here, returned once by create_endpoint, and never again.
"""

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import paginate
from service.auth.caller import Caller
from service.config import Settings
from service.domain.errors import NotFound
from service.domain.vocabulary import EventType
from service.policy import endpoint_in_reach, require_scope
from service.views import view_of
from service.webhooks.addresses import RefusedUrl, check_registration
from service.webhooks.errors import UnsafeWebhookUrl
from service.webhooks.models import WebhookAttempt, WebhookEndpoint

SECRET_PREFIX = "whsec_"
# A name that does not answer quickly is accepted: its deliveries will tell.
REGISTRATION_RESOLVE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class EndpointView:
    """A webhook endpoint, without its secret."""

    id: uuid.UUID
    url: str
    events: list[EventType] | None
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One attempt in an endpoint's delivery log."""

    id: int
    event_id: uuid.UUID
    event_type: EventType
    budget_id: uuid.UUID
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    delivered: bool


def _view(endpoint: WebhookEndpoint) -> EndpointView:
    events = None if endpoint.events is None else [EventType(e) for e in endpoint.events]
    return view_of(EndpointView, endpoint, events=events)


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


async def create_endpoint(
    session: AsyncSession,
    caller: Caller,
    *,
    url: str,
    events: Sequence[EventType] | None,
    settings: Settings,
    endpoint_id: uuid.UUID | None = None,
) -> tuple[EndpointView, str]:
    """Register an endpoint for the caller's agency; the view and its secret (shown once)."""
    require_scope(caller, "webhooks:write")
    timeout = min(settings.webhook_timeout_seconds, REGISTRATION_RESOLVE_SECONDS)
    try:
        checked = await check_registration(
            url, networks=settings.webhook_allowed_networks, timeout=timeout
        )
    except RefusedUrl as refused:
        raise UnsafeWebhookUrl(str(refused)) from None
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id or uuid.uuid4(),
        agency_id=caller.agency_id,
        url=checked,
        events=None if events is None else [event.value for event in events],
        secret=secret,
    )
    session.add(endpoint)
    await session.flush()
    return _view(endpoint), secret


async def _find(session: AsyncSession, caller: Caller, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, endpoint_in_reach(caller.agency_id)
        )
    )
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id} is your agency's.")
    return endpoint


async def get_endpoint(
    session: AsyncSession, caller: Caller, *, endpoint_id: uuid.UUID
) -> EndpointView:
    """One of the caller's agency's endpoints, or 404."""
    require_scope(caller, "webhooks:read")
    return _view(await _find(session, caller, endpoint_id))


async def list_endpoints(
    session: AsyncSession, caller: Caller, *, cursor: str | None, limit: int
) -> tuple[list[EndpointView], str | None]:
    """The caller's agency's endpoints, oldest first."""
    require_scope(caller, "webhooks:read")
    query = select(WebhookEndpoint).where(endpoint_in_reach(caller.agency_id))
    order = [WebhookEndpoint.created_at, WebhookEndpoint.id]
    rows, next_cursor = await paginate(session, query, order=order, cursor=cursor, limit=limit)
    return [_view(row) for row in rows], next_cursor


async def delete_endpoint(
    session: AsyncSession, caller: Caller, *, endpoint_id: uuid.UUID
) -> EndpointView:
    """Delete an endpoint with its undelivered messages and its log; the endpoint as it was."""
    require_scope(caller, "webhooks:write")
    endpoint = await _find(session, caller, endpoint_id)
    view = _view(endpoint)
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
    session.expunge(endpoint)
    return view


async def list_deliveries(
    session: AsyncSession,
    caller: Caller,
    *,
    endpoint_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[DeliveryView], str | None]:
    """An endpoint's delivery log, newest attempt first."""
    require_scope(caller, "webhooks:read")
    endpoint = await _find(session, caller, endpoint_id)
    query = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
    order = [WebhookAttempt.started_at, WebhookAttempt.id]
    rows, next_cursor = await paginate(
        session, query, order=order, cursor=cursor, limit=limit, newest_first=True
    )
    views = [view_of(DeliveryView, row, event_type=EventType(row.event_type)) for row in rows]
    return views, next_cursor
