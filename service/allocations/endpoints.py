"""Allocations: POST /v1/budgets/{id}/allocations, POST /v1/allocations/{id}/confirm and
POST /v1/allocations/{id}/adjustments."""

import uuid

from fastapi import APIRouter, Response

from service.allocations.schemas import AdjustmentIn, AdjustmentOut, AllocationIn, AllocationOut
from service.allocations.service import adjust_allocation, confirm_allocation, create_allocation
from service.auth.dependencies import AllocationsWrite
from service.database import SessionDep
from service.domain.vocabulary import AllocationStatus
from service.idempotency.guard import IdempotentWrite

router = APIRouter(tags=["allocations"])


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

    async def work(new_id: uuid.UUID) -> AllocationOut:
        allocation = await create_allocation(
            session,
            caller,
            budget_id=budget_id,
            stream_id=body.stream_id,
            amount=body.amount,
            status=AllocationStatus(body.status),
            allocation_id=new_id,
        )
        return AllocationOut.model_validate(allocation)

    return await idempotency.answer(201, work)


@router.post("/v1/allocations/{allocation_id}/confirm", response_model=AllocationOut)
async def post_confirm(
    allocation_id: uuid.UUID,
    session: SessionDep,
    caller: AllocationsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Confirm an indicative allocation of your stream: its money moves into the pot."""

    async def work(new_id: uuid.UUID) -> AllocationOut:
        allocation = await confirm_allocation(session, caller, allocation_id=allocation_id)
        return AllocationOut.model_validate(allocation)

    return await idempotency.answer(200, work)


@router.post(
    "/v1/allocations/{allocation_id}/adjustments", status_code=201, response_model=AdjustmentOut
)
async def post_adjustment(
    allocation_id: uuid.UUID,
    body: AdjustmentIn,
    session: SessionDep,
    caller: AllocationsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Bring an allocation of your stream to its amended award: a top-up (within the cap), or
    a take-back of at most what the pot has free; the answer says what could not be taken."""

    async def work(new_id: uuid.UUID) -> AdjustmentOut:
        adjustment = await adjust_allocation(
            session,
            caller,
            allocation_id=allocation_id,
            amount=body.amount,
            reason=body.reason,
            adjustment_id=new_id,
        )
        return AdjustmentOut.model_validate(adjustment)

    return await idempotency.answer(201, work)
