"""/v1/budgets: individual budgets, their funders, balances, statements and transfers."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.etags import check_if_match, etag
from service.api.pagination import Cursor, Limit, Page
from service.api.times import Instant
from service.auth.dependencies import BudgetsRead, BudgetsWrite, LedgerRead
from service.budgets.balances import Balances
from service.budgets.models import Budget
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
    NotLeadAgency,
    add_funder,
    balances,
    balances_as_of,
    create_budget,
    get_budget,
    list_budgets,
    list_transfers,
    update_budget,
)
from service.database import SessionDep
from service.errors import register_domain_error
from service.idempotency.guard import OptionallyIdempotent

router = APIRouter(prefix="/v1/budgets", tags=["budgets"])
register_domain_error(NotLeadAgency, 403, "not-lead-agency", "Not the lead agency")


async def _budget_out(session: AsyncSession, budget: Budget) -> BudgetOut:
    return (await _budgets_out(session, [budget]))[0]


async def _budgets_out(session: AsyncSession, budgets: Sequence[Budget]) -> list[BudgetOut]:
    money = await balances(session, budget_ids=[budget.id for budget in budgets])
    return [_shape(budget, money[budget.id]) for budget in budgets]


def _shape(budget: Budget, money: Balances) -> BudgetOut:
    return BudgetOut(
        id=budget.id,
        person_id=budget.person_id,
        lead_agency_id=budget.lead_agency_id,
        starts_on=budget.starts_on,
        ends_on=budget.ends_on,
        currency=budget.currency,
        deployment=budget.deployment,
        created_at=budget.created_at,
        totals=money.totals,
        streams=money.streams,
    )


@router.post("", status_code=201, response_model=BudgetOut)
async def post_budget(
    body: BudgetIn, session: SessionDep, caller: BudgetsWrite, idempotency: OptionallyIdempotent
) -> Response:
    """Open a budget for a person; your agency leads it."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    budget = await create_budget(session, caller, data=body)
    return await idempotency.respond(
        201, await _budget_out(session, budget), {"ETag": etag(budget.id, budget.version)}
    )


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
    return Page(items=await _budgets_out(session, rows), next_cursor=next_cursor)


@router.get("/{budget_id}", response_model=BudgetOut)
async def get_one_budget(
    budget_id: uuid.UUID, session: SessionDep, caller: BudgetsRead, response: Response
) -> BudgetOut:
    """A budget with its totals and per-stream balances."""
    budget = await get_budget(session, caller, budget_id)
    response.headers["ETag"] = etag(budget.id, budget.version)
    return await _budget_out(session, budget)


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
    budget = await get_budget(session, caller, budget_id, for_update=True)
    check_if_match(if_match, etag(budget.id, budget.version))
    budget = await update_budget(session, caller, budget, changes=body)
    response.headers["ETag"] = etag(budget.id, budget.version)
    return await _budget_out(session, budget)


@router.post("/{budget_id}/funders", status_code=201, response_model=FunderOut)
async def post_funder(
    budget_id: uuid.UUID,
    body: FunderIn,
    session: SessionDep,
    caller: BudgetsWrite,
    idempotency: OptionallyIdempotent,
) -> Response:
    """Bring a partner agency onto a budget you lead, so it can see and fund it."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    funder = await add_funder(session, caller, budget_id=budget_id, agency_id=body.agency_id)
    return await idempotency.respond(201, FunderOut.model_validate(funder))


@router.get("/{budget_id}/statement", response_model=StatementOut)
async def get_statement(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: BudgetsRead,
    as_of: Annotated[Instant | None, Query(description="RFC 3339 time; default now")] = None,
) -> StatementOut:
    """The budget's totals and streams as they stood at `as_of`, rebuilt from the ledger."""
    budget = await get_budget(session, caller, budget_id)
    moment = as_of or datetime.now().astimezone()
    if moment.tzinfo is None:
        moment = moment.astimezone()
    money = await balances_as_of(session, budget_id=budget.id, as_of=moment)
    return StatementOut(
        budget_id=budget.id,
        as_of=moment,
        currency=budget.currency,
        totals=money.totals,
        streams=money.streams,
    )


@router.get("/{budget_id}/transfers", response_model=Page[TransferOut])
async def get_transfers(
    budget_id: uuid.UUID,
    session: SessionDep,
    caller: LedgerRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TransferOut]:
    """The budget's ledger transfers, newest first."""
    budget = await get_budget(session, caller, budget_id)
    rows, next_cursor = await list_transfers(
        session, budget_id=budget.id, cursor=cursor, limit=limit
    )
    items = [
        TransferOut(
            id=transfer.id,
            stream_id=stream_id,
            debit_account=debit_kind,
            credit_account=credit_kind,
            amount=transfer.amount,
            kind=transfer.kind,
            pending_id=transfer.pending_id,
            code=transfer.code,
            reference_id=transfer.reference_id,
            created_at=transfer.created_at,
        )
        for transfer, stream_id, debit_kind, credit_kind in rows
    ]
    return Page(items=items, next_cursor=next_cursor)
