"""/v1/webhook-endpoints: where an agency's system hears of changes, and how delivery went."""

import uuid

from fastapi import APIRouter, Request, Response

from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import WebhooksRead, WebhooksWrite
from service.database import SessionDep
from service.idempotency.guard import OptionallyIdempotent
from service.webhooks.schemas import (
    DeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from service.webhooks.service import (
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookEndpointCreated)
async def post_webhook_endpoint(
    body: WebhookEndpointIn,
    request: Request,
    session: SessionDep,
    caller: WebhooksWrite,
    idempotency: OptionallyIdempotent,
) -> Response:
    """Register an endpoint; the answer shows its signing secret, this once."""

    async def work(new_id: uuid.UUID) -> WebhookEndpointCreated:
        view, secret = await create_endpoint(
            session,
            caller,
            url=body.url,
            events=body.events,
            settings=request.app.state.settings,
            endpoint_id=new_id,
        )
        shown = WebhookEndpointOut.model_validate(view).model_dump()
        return WebhookEndpointCreated(**shown, secret=secret)

    return await idempotency.answer(201, work)


@router.get("", response_model=Page[WebhookEndpointOut])
async def get_webhook_endpoints(
    session: SessionDep, caller: WebhooksRead, limit: Limit = 50, cursor: Cursor = None
) -> Page[WebhookEndpointOut]:
    """Your agency's endpoints, oldest first."""
    rows, next_cursor = await list_endpoints(session, caller, cursor=cursor, limit=limit)
    return Page(
        items=[WebhookEndpointOut.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut)
async def get_one_webhook_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, caller: WebhooksRead
) -> WebhookEndpointOut:
    """One of your agency's endpoints (never its secret)."""
    view = await get_endpoint(session, caller, endpoint_id=endpoint_id)
    return WebhookEndpointOut.model_validate(view)


@router.delete("/{endpoint_id}", response_model=WebhookEndpointOut)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    caller: WebhooksWrite,
    idempotency: OptionallyIdempotent,
) -> Response:
    """Delete an endpoint: nothing more is sent to it, and its log goes with it."""

    async def work(_new_id: uuid.UUID) -> WebhookEndpointOut:
        view = await delete_endpoint(session, caller, endpoint_id=endpoint_id)
        return WebhookEndpointOut.model_validate(view)

    return await idempotency.answer(200, work)


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryOut])
async def get_webhook_deliveries(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    caller: WebhooksRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """The endpoint's delivery log: every attempt, newest first."""
    rows, next_cursor = await list_deliveries(
        session, caller, endpoint_id=endpoint_id, cursor=cursor, limit=limit
    )
    return Page(items=[DeliveryOut.model_validate(row) for row in rows], next_cursor=next_cursor)
