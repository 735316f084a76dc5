"""Spends, commitments, approvals and reversals."""

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Response

from service.auth.dependencies import SpendsApprove, SpendsRead, SpendsWrite
from service.database import SessionDep
from service.domain.pooling import InsufficientFunds, InvalidSplit, SplitLine
from service.errors import register_domain_error
from service.idempotency.guard import Idempotency, IdempotentWrite
from service.ledger.repository import Overdrawn, PendingAlreadyResolved
from service.spends.models import Spend, SpendLine
from service.spends.schemas import (
    CommitmentIn,
    CommitmentOut,
    CommitmentPostIn,
    LineOut,
    ReversalOut,
    SpendIn,
    SpendOut,
)
from service.spends.service import (
    NotAwaitingYou,
    OutsidePeriod,
    WrongState,
    approve_spend,
    get_spend,
    record_commitment,
    record_spend,
    reverse_spend,
    settle_commitment,
)

router = APIRouter(tags=["spends"])

register_domain_error(
    InsufficientFunds,
    422,
    "insufficient-funds",
    "Not enough eligible money",
    lambda e: {
        "requested_amount": e.requested,
        "eligible_amount": e.eligible_amount,
        "streams": [
            {"stream_id": str(s.stream_id), "available": s.available, "reason": s.reason}
            for s in e.streams
        ],
    },
)
register_domain_error(
    InvalidSplit,
    422,
    "invalid-split",
    "The chosen split cannot be used",
    lambda e: {"problems": list(e.problems)},
)
register_domain_error(OutsidePeriod, 422, "outside-period", "Outside the budget's period")
register_domain_error(WrongState, 409, "wrong-state", "Not possible in this state")
register_domain_error(NotAwaitingYou, 403, "not-awaiting-you", "Not awaiting your approval")
register_domain_error(Overdrawn, 409, "overdrawn", "The money is no longer there")
register_domain_error(PendingAlreadyResolved, 409, "already-resolved", "Already resolved")

NAMESPACE = uuid.UUID("6f1c4c52-5b7e-4b8e-9a53-0b1e7c2d9f10")


def _new_id(idempotency: Idempotency) -> uuid.UUID:
    """Derive the new object's id from the idempotency key: a retry can never make two."""
    return uuid.uuid5(NAMESPACE, f"{idempotency.caller.client_pk}:{idempotency.key}")


def _lines(rows: Sequence[SpendLine]) -> list[LineOut]:
    return [LineOut.model_validate(row) for row in rows]


def spend_out(spend: Spend, rows: Sequence[SpendLine]) -> SpendOut:
    """A spend as the API shows it."""
    return SpendOut.model_validate({**_columns(spend), "lines": _lines(rows)})


def commitment_out(commitment: Spend, rows: Sequence[SpendLine]) -> CommitmentOut:
    """A commitment as the API shows it."""
    return CommitmentOut.model_validate({**_columns(commitment), "lines": _lines(rows)})


def _columns(spend: Spend) -> dict[str, object]:
    return {column.key: getattr(spend, column.key) for column in Spend.__table__.columns}


@router.post("/v1/budgets/{budget_id}/spends", status_code=201, response_model=SpendOut)
async def post_spend(
    budget_id: uuid.UUID,
    body: SpendIn,
    session: SessionDep,
    caller: SpendsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Pay for something from the budget; the answer explains which streams paid and why."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    split = [SplitLine(line.stream_id, line.amount) for line in body.split] if body.split else None
    spend, rows = await record_spend(
        session,
        caller,
        spend_id=_new_id(idempotency),
        budget_id=budget_id,
        amount=body.amount,
        category=body.category,
        description=body.description,
        occurred_on=body.occurred_on,
        payee=body.payee,
        split=split,
    )
    return await idempotency.respond(201, spend_out(spend, rows))


@router.get("/v1/spends/{spend_id}", response_model=SpendOut)
async def get_one_spend(spend_id: uuid.UUID, session: SessionDep, caller: SpendsRead) -> SpendOut:
    """A spend on a budget your agency reaches, with its lines."""
    return spend_out(*await get_spend(session, caller, spend_id, kind="spend"))


async def _decide(
    spend_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsApprove,
    idempotency: Idempotency,
    *,
    approve: bool,
    kind: str = "spend",
) -> Response:
    if (previous := await idempotency.previous()) is not None:
        return previous
    spend, rows = await approve_spend(
        session, caller, spend_id=spend_id, approve=approve, kind=kind
    )
    shape = spend_out if kind == "spend" else commitment_out
    return await idempotency.respond(200, shape(spend, rows))


@router.post("/v1/spends/{spend_id}/approve", response_model=SpendOut)
async def post_approve(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsApprove, idempotency: IdempotentWrite
) -> Response:
    """Approve your agency's share of a spend over its threshold; when all approve, it is paid."""
    return await _decide(spend_id, session, caller, idempotency, approve=True)


@router.post("/v1/spends/{spend_id}/reject", response_model=SpendOut)
async def post_reject(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsApprove, idempotency: IdempotentWrite
) -> Response:
    """Reject a spend awaiting your agency's approval; the held money is released."""
    return await _decide(spend_id, session, caller, idempotency, approve=False)


@router.post("/v1/spends/{spend_id}/reverse", status_code=201, response_model=ReversalOut)
async def post_reverse(
    spend_id: uuid.UUID, session: SessionDep, caller: SpendsWrite, idempotency: IdempotentWrite
) -> Response:
    """Reverse a posted spend: each stream that paid gets its share back."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    reversal, rows = await reverse_spend(
        session, caller, spend_id=spend_id, reversal_id=_new_id(idempotency)
    )
    body = ReversalOut(
        id=reversal.id,
        spend_id=spend_id,
        budget_id=reversal.budget_id,
        amount=reversal.amount,
        created_at=reversal.created_at,
        lines=_lines(rows),
    )
    return await idempotency.respond(201, body)


@router.post(
    "/v1/budgets/{budget_id}/commitments",
    status_code=201,
    response_model=CommitmentOut,
)
async def post_commitment(
    budget_id: uuid.UUID,
    body: CommitmentIn,
    session: SessionDep,
    caller: SpendsWrite,
    idempotency: IdempotentWrite,
) -> Response:
    """Hold money for booked support until you post it, void it, or it expires."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    commitment, rows = await record_commitment(
        session,
        caller,
        commitment_id=_new_id(idempotency),
        budget_id=budget_id,
        amount=body.amount,
        category=body.category,
        description=body.description,
        expires_at=body.expires_at,
    )
    return await idempotency.respond(201, commitment_out(commitment, rows))


@router.get("/v1/commitments/{commitment_id}", response_model=CommitmentOut)
async def get_one_commitment(
    commitment_id: uuid.UUID, session: SessionDep, caller: SpendsRead
) -> CommitmentOut:
    """A commitment on a budget your agency reaches."""
    return commitment_out(*await get_spend(session, caller, commitment_id, kind="commitment"))


@router.post("/v1/commitments/{commitment_id}/post", response_model=CommitmentOut)
async def post_commitment_post(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsWrite,
    idempotency: IdempotentWrite,
    body: CommitmentPostIn | None = None,
) -> Response:
    """Pay a commitment in full, or part of it (`amount`); the rest goes back to the pots."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    amount = body.amount if body is not None else None
    commitment, rows = await settle_commitment(
        session, caller, commitment_id=commitment_id, amount=amount
    )
    return await idempotency.respond(200, commitment_out(commitment, rows))


@router.post("/v1/commitments/{commitment_id}/void", response_model=CommitmentOut)
async def post_commitment_void(
    commitment_id: uuid.UUID, session: SessionDep, caller: SpendsWrite, idempotency: IdempotentWrite
) -> Response:
    """Release a commitment's held money back to the pots."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    commitment, rows = await settle_commitment(
        session, caller, commitment_id=commitment_id, amount=0
    )
    return await idempotency.respond(200, commitment_out(commitment, rows))


@router.post("/v1/commitments/{commitment_id}/approve", response_model=CommitmentOut)
async def post_commitment_approve(
    commitment_id: uuid.UUID,
    session: SessionDep,
    caller: SpendsApprove,
    idempotency: IdempotentWrite,
) -> Response:
    """Approve your agency's share of held money over its threshold; then it can be posted."""
    return await _decide(
        commitment_id, session, caller, idempotency, approve=True, kind="commitment"
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
        commitment_id, session, caller, idempotency, approve=False, kind="commitment"
    )
