"""Allocations: POST /v1/budgets/{id}/allocations and POST /v1/allocations/{id}/confirm."""

import uuid

from fastapi import APIRouter, Response

from service.allocations.schemas import AllocationIn, AllocationOut
from service.allocations.service import (
    AlreadyConfirmed,
    OverCap,
    confirm_allocation,
    create_allocation,
)
from service.auth.dependencies import AllocationsWrite
from service.database import SessionDep
from service.errors import register_domain_error
from service.idempotency.guard import IdempotentWrite

router = APIRouter(tags=["allocations"])
register_domain_error(
    OverCap,
    422,
    "over-cap",
    "Over the stream's cap",
    lambda e: {"cap_amount": e.cap_amount, "allocated": e.allocated},
)
register_domain_error(AlreadyConfirmed, 409, "already-confirmed", "Already confirmed")


@router.post(
    "/v1/budgets/{budget_id}/allocations",
    status_code=201,
    response_model=AllocationOut,
)
async def post_allocation(
    budget_id: uuid.UUID,
    body: AllocationIn,
    session: SessionDep,
    caller: AllocationsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Allocate money from one of your streams to a budget (indicative or confirmed)."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    allocation = await create_allocation(
        session,
        caller,
        budget_id=budget_id,
        stream_id=body.stream_id,
        amount=body.amount,
        status=body.status,
    )
    return await idempotency.respond(201, AllocationOut.model_validate(allocation))


@router.post(
    "/v1/allocations/{allocation_id}/confirm",
    response_model=AllocationOut,
)
async def post_confirm(
    allocation_id: uuid.UUID,
    session: SessionDep,
    caller: AllocationsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Confirm an indicative allocation: its money moves into the stream's pot."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    allocation = await confirm_allocation(session, caller, allocation_id=allocation_id)
    return await idempotency.respond(200, AllocationOut.model_validate(allocation))
