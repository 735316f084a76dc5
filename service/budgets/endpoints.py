"""/v1/budgets: individual budgets, their funders, balances, statements and transfers."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from service.api.etags import etag, precondition
from service.api.pagination import Cursor, Limit, Page
from service.api.times import Instant
from service.auth.dependencies import BudgetsRead, BudgetsWrite, LedgerRead
from service.budgets.schemas import (
    BudgetIn,
    BudgetOut,
    BudgetPatch,
    FunderIn,
    FunderOut,
    StatementOut,
    TransferOut,
)
from service.budgets.service import (
    BudgetView,
    add_funder,
    create_budget,
    get_budget,
    list_budgets,
    list_transfers,
    statement,
    update_budget,
)
from service.database import SessionDep
from service.idempotency.guard import OptionallyIdempotent, Reply

router = APIRouter(prefix="/v1/budgets", tags=["budgets"])


def _reply(budget: BudgetView) -> Reply:
    return Reply(BudgetOut.model_validate(budget), {"ETag": etag(budget.id, budget.version)})


@router.post("", status_code=201, response_model=BudgetOut)
async def post_budget(
    body: BudgetIn, session: SessionDep, caller: BudgetsWrite, idempotency: OptionallyIdempotent
) -> Response:
    """Open a budget for a person your agency registered or leads a budget for; you lead it."""

    async def work(new_id: uuid.UUID) -> Reply:
        return _reply(await create_budget(session, caller, data=body, budget_id=new_id))

    return await idempotency.answer(201, work)


@router.get("", response_model=Page[BudgetOut])
async def get_budgets(
    session: SessionDep,
    caller: BudgetsRead,
    person_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[BudgetOut]:
    """List budgets your agency leads or funds, optionally of one person."""
    rows, next_cursor = await list_budgets(
        session, caller, person_id=person_id, cursor=cursor, limit=limit
    )
    return Page(items=[BudgetOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/{budget_id}", response_model=BudgetOut)
async def get_one_budget(
    budget_id: uuid.UUID, session: SessionDep, caller: BudgetsRead, response: Response
) -> BudgetOut:
    """A budget with its totals and per-stream balances."""
    budget = await get_budget(session, caller, budget_id=budget_id)
    response.headers["ETag"] = etag(budget.id, budget.version)
    return BudgetOut.model_validate(budget)


@router.patch("/{budget_id}", response_model=BudgetOut)
async def patch_budget(
    budget_id: uuid.UUID,
    body: BudgetPatch,
    session: SessionDep,
    caller: BudgetsWrite,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> BudgetOut:
    """Change how a budget is deployed (lead agency). Needs If-Match."""
    budget = await update_budget(
        session,
        caller,
        budget_id=budget_id,
        changes=body,
        precondition=precondition(if_match, budget_id),
    )
    response.headers["ETag"] = etag(budget.id, budget.version)
    return BudgetOut.model_validate(budget)


@router.post("/{budget_id}/funders", status_code=201, response_model=FunderOut)
async def post_funder(
    budget_id: uuid.UUID,
    body: FunderIn,
    session: SessionDep,
    caller: BudgetsWrite,
    idempotency: OptionallyIdempotent,
) -> Response:
    """Bring a partner agency onto a budget you lead, so it can see and fund it."""

    async def work(new_id: uuid.UUID) -> FunderOut:
        funder = await add_funder(session, caller, budget_id=budget_id, agency_id=body.agency_id)
        return FunderOut.model_validate(funder)

    return await idempotency.answer(201, work)


@router.get("/{budget_id}/statement", response_model=StatementOut)
async def get_statement(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: BudgetsRead,
    as_of: Annotated[Instant | None, Query(description="RFC 3339 time; default now")] = None,
) -> StatementOut:
    """The budget's totals and streams as they stood at `as_of`, rebuilt from the ledger."""
    moment = as_of or datetime.now().astimezone()
    if moment.tzinfo is None:
        moment = moment.astimezone()
    view = await statement(session, caller, budget_id=budget_id, as_of=moment)
    return StatementOut.model_validate(view)


@router.get("/{budget_id}/transfers", response_model=Page[TransferOut])
async def get_transfers(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: LedgerRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TransferOut]:
    """The budget's ledger transfers, newest first."""
    rows, next_cursor = await list_transfers(
        session, caller, budget_id=budget_id, cursor=cursor, limit=limit
    )
    return Page(items=[TransferOut.model_validate(row) for row in rows], next_cursor=next_cursor)
