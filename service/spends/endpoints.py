"""Spends, commitments, reversals and approvals under /v1."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import SpendsApprove, SpendsRead, SpendsWrite
from service.clock import Clock
from service.database import SessionDep
from service.domain.pooling import SplitLine
from service.domain.vocabulary import SpendKind
from service.idempotency.guard import Idempotency, IdempotentWrite, KeptWrite, kept_write
from service.idempotency.store import Keeper
from service.spends.schemas import (
    AwaitingOut,
    CommitmentIn,
    CommitmentOut,
    CommitmentPostIn,
    LineOut,
    ReversalOut,
    SpendIn,
    SpendOut,
)
from service.spends.service import (
    decide,
    get_spend,
    list_approvals,
    list_spends,
    post_commitment,
    record_commitment,
    record_spend,
    reverse_spend,
    void_commitment,
)
from service.spends.views import SpendView

router = APIRouter(tags=["spends"])


# Only for work under answer_kept, whose first statement checks the client (kept_write).
SpendsWriteKept = Annotated[KeptWrite, Depends(kept_write("spends:write"), scope="function")]


@dataclass(frozen=True, slots=True)
class SpendTerms:
    """What the settings say about new spends and commitments, and the app's clock."""

    approval_window: timedelta
    low_percent: int  # budget.low: a pot at or under this share of its money
    clock: Clock


# Read in the endpoint, not injected: each dependency costs a spend about 2% of its
# instructions in FastAPI's own machinery, where a Request parameter costs next to nothing
# (README.md, "Benchmark").
def spend_terms(request: Request) -> SpendTerms:
    """The terms the app's settings and clock set for new spends and commitments."""
    state = request.app.state
    return SpendTerms(
        approval_window=timedelta(days=state.settings.approval_window_days),
        low_percent=state.settings.webhook_budget_low_percent,
        clock=state.clock,
    )


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


AppClock = Annotated[Clock, Depends(_clock)]


def _shape(view: SpendView) -> SpendOut | CommitmentOut:
    if view.kind is SpendKind.COMMITMENT:
        return CommitmentOut.model_validate(view)
    return SpendOut.model_validate(view)


@router.post("/v1/budgets/{budget_id}/spends", status_code=201, response_model=SpendOut)
async def post_spend(
    budget_id: uuid.UUID,
    body: SpendIn,
    request: Request,
    write: SpendsWriteKept,
) -> Response:
    """Pay for something from the budget (lead agency); the answer explains the split."""
    terms = spend_terms(request)

    async def work(new_id: uuid.UUID, keeper: Keeper) -> None:
        split = [SplitLine(line.stream_id, line.amount) for line in body.split or ()] or None
        await record_spend(
            write.session,
            write.caller,
            spend_id=new_id,
            budget_id=budget_id,
            amount=body.amount,
            category=body.category,
            description=body.description,
            occurred_on=body.occurred_on,
            payee=body.payee,
            split=split,
            approval_window=terms.approval_window,
            keeper=keeper,
            low_percent=terms.low_percent,
        )

    return await write.idempotency.answer_kept(201, SpendOut, work)


@router.get("/v1/budgets/{budget_id}/spends", response_model=Page[SpendOut])
async def get_budget_spends(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SpendOut]:
    """A budget's spends, newest first, each with its lines."""
    rows, next_cursor = await list_spends(
        session, caller, budget_id=budget_id, kind=SpendKind.SPEND, cursor=cursor, limit=limit
    )
    return Page(items=[SpendOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/v1/spends/{spend_id}", response_model=SpendOut)
async def get_one_spend(spend_id: uuid.UUID, session: SessionDep, caller: SpendsRead) -> SpendOut:
    """A spend on a budget your agency reaches, with its lines."""
    return SpendOut.model_validate(
        await get_spend(session, caller, spend_id=spend_id, kind=SpendKind.SPEND)
    )


async def _decide(
    spend_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsApprove,
    idempotency: Idempotency,
    *,
    approve: bool,
    kind: SpendKind,
) -> Response:
    async def work(new_id: uuid.UUID) -> SpendOut | CommitmentOut:
        view = await decide(session, caller, spend_id=spend_id, approve=approve, kind=kind)
        return _shape(view)

    return await idempotency.answer(200, work)


@router.post("/v1/spends/{spend_id}/approve", response_model=SpendOut)
async def post_approve(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsApprove, idempotency: IdempotentWrite
) -> Response:
    """Approve your agency's share of a spend over its threshold; when all approve, it is paid."""
    return await _decide(spend_id, session, caller, idempotency, approve=True, kind=SpendKind.SPEND)


@router.post("/v1/spends/{spend_id}/reject", response_model=SpendOut)
async def post_reject(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsApprove, idempotency: IdempotentWrite
) -> Response:
    """Reject a spend awaiting your agency's approval; the held money is released."""
    return await _decide(
        spend_id, session, caller, idempotency, approve=False, kind=SpendKind.SPEND
    )


@router.post("/v1/spends/{spend_id}/reverse", status_code=201, response_model=ReversalOut)
async def post_reverse(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsWrite, idempotency: IdempotentWrite
) -> Response:
    """Reverse a posted spend (lead agency): each stream that paid gets its share back."""

    async def work(new_id: uuid.UUID) -> ReversalOut:
        reversal = await reverse_spend(session, caller, spend_id=spend_id, reversal_id=new_id)
        return ReversalOut(
            id=reversal.id,
            spend_id=spend_id,
            budget_id=reversal.budget_id,
            amount=reversal.amount,
            created_at=reversal.created_at,
            lines=[LineOut.model_validate(line) for line in reversal.lines],
        )

    return await idempotency.answer(201, work)


@router.post(
    "/v1/budgets/{budget_id}/commitments",
    status_code=201,
    response_model=CommitmentOut,
)
async def post_commitment_new(
    budget_id: uuid.UUID,
    body: CommitmentIn,
    request: Request,
    write: SpendsWriteKept,
) -> Response:
    """Hold money for booked support (lead agency) until you post it, void it, or it expires."""
    terms = spend_terms(request)

    async def work(new_id: uuid.UUID, keeper: Keeper) -> None:
        await record_commitment(
            write.session,
            write.caller,
            commitment_id=new_id,
            budget_id=budget_id,
            amount=body.amount,
            category=body.category,
            description=body.description,
            expires_at=body.expires_at,
            approval_window=terms.approval_window,
            clock=terms.clock,
            keeper=keeper,
            low_percent=terms.low_percent,
        )

    return await write.idempotency.answer_kept(201, CommitmentOut, work)


@router.get("/v1/budgets/{budget_id}/commitments", response_model=Page[CommitmentOut])
async def get_budget_commitments(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommitmentOut]:
    """A budget's commitments (money held for booked support), newest first."""
    rows, next_cursor = await list_spends(
        session,
        caller,
        budget_id=budget_id,
        kind=SpendKind.COMMITMENT,
        cursor=cursor,
        limit=limit,
    )
    items = [CommitmentOut.model_validate(row) for row in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.get("/v1/commitments/{commitment_id}", response_model=CommitmentOut)
async def get_one_commitment(
    commitment_id: uuid.UUID, session: SessionDep, caller: SpendsRead
) -> CommitmentOut:
    """A commitment on a budget your agency reaches."""
    return CommitmentOut.model_validate(
        await get_spend(session, caller, spend_id=commitment_id, kind=SpendKind.COMMITMENT)
    )


@router.post("/v1/commitments/{commitment_id}/post", response_model=CommitmentOut)
async def post_commitment_post(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsWrite,
    idempotency: IdempotentWrite,
    clock: AppClock,
    body: CommitmentPostIn | None = None,
) -> Response:
    """Pay a commitment in full, or part of it (`amount`); the rest goes back to the pots."""

    async def work(new_id: uuid.UUID) -> CommitmentOut:
        amount = body.amount if body is not None else None
        view = await post_commitment(
            session, caller, commitment_id=commitment_id, amount=amount, clock=clock
        )
        return CommitmentOut.model_validate(view)

    return await idempotency.answer(200, work)


@router.post("/v1/commitments/{commitment_id}/void", response_model=CommitmentOut)
async def post_commitment_void(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsWrite,
    idempotency: IdempotentWrite,
    clock: AppClock,
) -> Response:
    """Release a commitment's held money back to the pots (lead agency)."""

    async def work(new_id: uuid.UUID) -> CommitmentOut:
        view = await void_commitment(session, caller, commitment_id=commitment_id, clock=clock)
        return CommitmentOut.model_validate(view)

    return await idempotency.answer(200, work)


@router.post("/v1/commitments/{commitment_id}/approve", response_model=CommitmentOut)
async def post_commitment_approve(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsApprove,
    idempotency: IdempotentWrite,
) -> Response:
    """Approve your agency's share of held money over its threshold; then it can be posted."""
    return await _decide(
        commitment_id, session, caller, idempotency, approve=True, kind=SpendKind.COMMITMENT
    )


@router.post("/v1/commitments/{commitment_id}/reject", response_model=CommitmentOut)
async def post_commitment_reject(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsApprove,
    idempotency: IdempotentWrite,
) -> Response:
    """Reject held money awaiting your agency's approval; it goes back to the pots."""
    return await _decide(
        commitment_id, session, caller, idempotency, approve=False, kind=SpendKind.COMMITMENT
    )


@router.get("/v1/approvals", response_model=Page[AwaitingOut])
async def get_approvals(
    session: SessionDep, caller: SpendsApprove, limit: Limit = 50, cursor: Cursor = None
) -> Page[AwaitingOut]:
    """Your agency's inbox: spends and commitments awaiting its approval, oldest first."""
    rows, next_cursor = await list_approvals(session, caller, cursor=cursor, limit=limit)
    return Page(items=[AwaitingOut.model_validate(row) for row in rows], next_cursor=next_cursor)
