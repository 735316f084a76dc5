"""Budgets: creating them, bringing funders in, and reading balances and history."""

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.api.pagination import paginate
from service.auth.caller import Caller
from service.budgets.balances import Balances, summarise
from service.budgets.models import Budget, BudgetFunder
from service.budgets.schemas import BudgetIn, BudgetPatch
from service.domain.errors import DomainError
from service.errors import NotFound
from service.ledger.models import Account, Transfer
from service.ledger.repository import counters_as_of, current_counters
from service.people.service import get_person
from service.reach import budget_in_reach


class NotLeadAgency(DomainError):
    """Only the lead agency may do this to a budget."""


async def create_budget(session: AsyncSession, caller: Caller, *, data: BudgetIn) -> Budget:
    """Open a budget for a person within reach; the caller's agency leads it."""
    await get_person(session, caller, data.person_id)
    budget = Budget(**data.model_dump(), lead_agency_id=caller.agency_id)
    session.add(budget)
    await session.flush()
    return budget


async def get_budget(
    session: AsyncSession, caller: Caller, budget_id: uuid.UUID, *, for_update: bool = False
) -> Budget:
    """A budget the caller's agency leads or funds, or 404."""
    query = select(Budget).where(Budget.id == budget_id, budget_in_reach(caller.agency_id))
    if for_update:
        query = query.with_for_update(of=Budget)
    budget = await session.scalar(query)
    if budget is None:
        raise NotFound(f"No budget {budget_id} is within your reach.")
    return budget


async def list_budgets(
    session: AsyncSession,
    caller: Caller,
    *,
    person_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Budget], str | None]:
    """Budgets within reach, optionally of one person, oldest first."""
    query = select(Budget).where(budget_in_reach(caller.agency_id))
    if person_id is not None:
        query = query.where(Budget.person_id == person_id)
    order = [Budget.created_at, Budget.id]
    return await paginate(session, query, order=order, cursor=cursor, limit=limit)


async def update_budget(
    session: AsyncSession, caller: Caller, budget: Budget, *, changes: BudgetPatch
) -> Budget:
    """Change how the budget is deployed; the lead agency only."""
    _require_lead(caller, budget)
    budget.deployment = changes.deployment
    budget.version += 1
    await session.flush()
    return budget


def _require_lead(caller: Caller, budget: Budget) -> None:
    if budget.lead_agency_id != caller.agency_id:
        raise NotLeadAgency("Only the lead agency of this budget may do that.")


async def add_funder(
    session: AsyncSession, caller: Caller, *, budget_id: uuid.UUID, agency_id: uuid.UUID
) -> BudgetFunder:
    """Bring a partner agency onto a budget the caller leads. Adding twice changes nothing."""
    budget = await get_budget(session, caller, budget_id)
    _require_lead(caller, budget)
    if await session.get(Agency, agency_id) is None:
        raise NotFound(f"No agency {agency_id} is registered.")
    await session.execute(
        insert(BudgetFunder)
        .values(budget_id=budget_id, agency_id=agency_id)
        .on_conflict_do_nothing()
    )
    funder = await session.get(BudgetFunder, (budget_id, agency_id))
    assert funder is not None
    return funder


async def balances(
    session: AsyncSession, *, budget_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Balances]:
    """Budgets' balances now, from the account counters (cost independent of history)."""
    return await summarise(session, await current_counters(session, budget_ids=budget_ids))


async def balances_as_of(
    session: AsyncSession, *, budget_id: uuid.UUID, as_of: datetime
) -> Balances:
    """The budget's balances as they stood at as_of, from the transfers."""
    counters = await counters_as_of(session, budget_id=budget_id, as_of=as_of)
    return (await summarise(session, {budget_id: counters}, as_of=as_of))[budget_id]


async def list_transfers(
    session: AsyncSession, *, budget_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[tuple[Transfer, uuid.UUID, str, str]], str | None]:
    """The budget's transfers, newest first, each with its stream and account kinds."""
    page, next_cursor = await paginate(
        session,
        select(Transfer).where(Transfer.budget_id == budget_id),
        order=[Transfer.seq],
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )
    ids = {t.debit_account_id for t in page} | {t.credit_account_id for t in page}
    rows = await session.execute(
        select(Account.id, Account.stream_id, Account.kind).where(Account.id.in_(ids))
    )
    accounts = {account_id: (stream_id, kind) for account_id, stream_id, kind in rows}
    return [
        (
            t,
            accounts[t.debit_account_id][0],
            accounts[t.debit_account_id][1],
            accounts[t.credit_account_id][1],
        )
        for t in page
    ], next_cursor
