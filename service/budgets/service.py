"""Budgets: opening them, bringing funders in, and reading balances and history."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.api.pagination import Slice, paginate_each, paginate_slice
from service.auth.caller import Caller
from service.budgets.balances import Balances, StreamTotals, Totals, summarise
from service.budgets.models import Budget, BudgetFunder
from service.budgets.repository import find_budget
from service.budgets.schemas import BudgetIn, BudgetPatch
from service.domain.errors import NotFound
from service.domain.ledger import AccountKind
from service.domain.vocabulary import Deployment, SpendStatus
from service.events.publish import budget_changed
from service.ledger.models import Account, Transfer
from service.ledger.repository import counters_as_of, current_counters, pot_available
from service.people.models import Person
from service.policy import (
    budget_in_reach,
    budgets_reached,
    person_access,
    require_lead,
    require_person_steward,
    require_scope,
)
from service.spends.models import Spend
from service.versions import Precondition
from service.views import view_of


@dataclass(frozen=True, slots=True)
class BudgetView:
    """A budget with its totals and per-stream balances."""

    id: uuid.UUID
    person_id: uuid.UUID
    lead_agency_id: uuid.UUID
    starts_on: date
    ends_on: date
    currency: str
    deployment: Deployment
    version: int
    created_at: datetime
    totals: Totals
    streams: tuple[StreamTotals, ...]


@dataclass(frozen=True, slots=True)
class FunderView:
    """An agency funding a budget."""

    budget_id: uuid.UUID
    agency_id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StatementView:
    """A budget's totals and streams as they stood at `as_of`."""

    budget_id: uuid.UUID
    as_of: datetime
    currency: str
    totals: Totals
    streams: tuple[StreamTotals, ...]


@dataclass(frozen=True, slots=True)
class TransferView:
    """One ledger transfer, with the stream it belongs to and its accounts' kinds."""

    id: uuid.UUID
    stream_id: uuid.UUID
    debit_account: str
    credit_account: str
    amount: int
    kind: str
    pending_id: uuid.UUID | None
    code: str
    reference_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetFilter:
    """Which budgets of a caseload to list; None leaves a condition out."""

    person_id: uuid.UUID | None = None
    awaiting_approval: bool | None = None  # a spend or commitment awaits an agency's approval
    available_below: int | None = None  # less than this in total is free to spend
    active_on: date | None = None  # the day falls within the budget's period


def _filtered(filter: BudgetFilter) -> list[Any]:
    """The WHERE conditions of a filter."""
    conditions: list[Any] = []
    if filter.person_id is not None:
        conditions.append(Budget.person_id == filter.person_id)
    if filter.awaiting_approval is not None:
        awaits = exists().where(
            Spend.budget_id == Budget.id, Spend.status == SpendStatus.PENDING_APPROVAL
        )
        conditions.append(awaits if filter.awaiting_approval else ~awaits)
    if filter.available_below is not None:
        available = (
            select(func.coalesce(func.sum(pot_available(Account)), 0))
            .where(Account.budget_id == Budget.id, Account.kind == AccountKind.POT.value)
            .scalar_subquery()
        )
        conditions.append(available < filter.available_below)
    if filter.active_on is not None:
        conditions.append(Budget.starts_on <= filter.active_on)
        conditions.append(Budget.ends_on >= filter.active_on)
    return conditions


async def _views(session: AsyncSession, budgets: Sequence[Budget]) -> list[BudgetView]:
    """Budgets with their balances: a page costs the same few queries as one budget."""
    counters = await current_counters(session, budget_ids=[budget.id for budget in budgets])
    money = await summarise(session, counters)
    return [_view(budget, money[budget.id]) for budget in budgets]


def _view(budget: Budget, money: Balances) -> BudgetView:
    return view_of(BudgetView, budget, totals=money.totals, streams=money.streams)


async def create_budget(
    session: AsyncSession, caller: Caller, *, data: BudgetIn, budget_id: uuid.UUID | None = None
) -> BudgetView:
    """Open a budget for a person the caller registered or leads a budget for; it leads this."""
    require_scope(caller, "budgets:write")
    access = await person_access(session, caller, person_id=data.person_id)
    require_person_steward(access, action="open a budget for them")
    budget = Budget(
        id=budget_id or uuid.uuid4(), **data.model_dump(), lead_agency_id=caller.agency_id
    )
    session.add(budget)
    await session.flush()
    return (await _views(session, [budget]))[0]


async def get_budget(session: AsyncSession, caller: Caller, *, budget_id: uuid.UUID) -> BudgetView:
    """A budget the caller's agency leads or funds, with its balances; or 404."""
    require_scope(caller, "budgets:read")
    budget = await find_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    return (await _views(session, [budget]))[0]


async def get_budgets(
    session: AsyncSession, caller: Caller, *, budget_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, BudgetView]:
    """The budgets among `budget_ids` within reach, with their balances, in four queries."""
    require_scope(caller, "budgets:read")
    rows = await session.scalars(
        select(Budget).where(Budget.id.in_(budget_ids), budget_in_reach(caller.agency_id))
    )
    return {view.id: view for view in await _views(session, list(rows))}


async def budgets_slice(
    session: AsyncSession,
    caller: Caller,
    *,
    filter: BudgetFilter,
    cursor: str | None,
    limit: int,
) -> Slice[BudgetView]:
    """A page of the budgets within reach that pass the filter, oldest first."""
    require_scope(caller, "budgets:read")
    query = select(Budget).where(budget_in_reach(caller.agency_id), *_filtered(filter))
    order = [Budget.created_at, Budget.id]
    page = await paginate_slice(session, query, order=order, cursor=cursor, limit=limit)
    return Slice(await _views(session, page.items), page.keys, page.more)


async def list_budgets(
    session: AsyncSession,
    caller: Caller,
    *,
    person_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[BudgetView], str | None]:
    """Budgets within reach, optionally of one person, oldest first."""
    page = await budgets_slice(
        session, caller, filter=BudgetFilter(person_id=person_id), cursor=cursor, limit=limit
    )
    return page.items, page.next_cursor


async def update_budget(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    changes: BudgetPatch,
    precondition: Precondition,
) -> BudgetView:
    """Change how the budget is deployed; the lead agency only."""
    require_scope(caller, "budgets:write")
    budget = await find_budget(
        session, budget_id=budget_id, within_reach_of=caller.agency_id, for_update=True
    )
    require_lead(caller, lead_agency_id=budget.lead_agency_id, action="change the budget")
    precondition.check(object_id=budget.id, version=budget.version)
    budget.deployment = changes.deployment
    budget.version += 1
    await session.flush()
    await budget_changed(session, budget_id=budget.id)
    return (await _views(session, [budget]))[0]


async def add_funder(
    session: AsyncSession, caller: Caller, *, budget_id: uuid.UUID, agency_id: uuid.UUID
) -> FunderView:
    """Bring a partner agency onto a budget the caller leads. Adding twice changes nothing."""
    require_scope(caller, "budgets:write")
    budget = await find_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    require_lead(caller, lead_agency_id=budget.lead_agency_id, action="bring funders in")
    if await session.get(Agency, agency_id) is None:
        raise NotFound(f"No agency {agency_id} is registered.")
    await session.execute(
        insert(BudgetFunder)
        .values(budget_id=budget_id, agency_id=agency_id)
        .on_conflict_do_nothing()
    )
    await budget_changed(session, budget_id=budget_id)
    funder = await session.get(BudgetFunder, (budget_id, agency_id))
    assert funder is not None
    return view_of(FunderView, funder)


async def statement(
    session: AsyncSession, caller: Caller, *, budget_id: uuid.UUID, as_of: datetime
) -> StatementView:
    """The budget's balances as they stood at as_of, rebuilt from the transfers."""
    require_scope(caller, "budgets:read")
    budget = await find_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    counters = await counters_as_of(session, budget_id=budget.id, as_of=as_of)
    money = (await summarise(session, {budget.id: counters}, as_of=as_of))[budget.id]
    return StatementView(
        budget_id=budget.id,
        as_of=as_of,
        currency=budget.currency,
        totals=money.totals,
        streams=money.streams,
    )


async def list_transfers(
    session: AsyncSession, caller: Caller, *, budget_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[TransferView], str | None]:
    """The budget's transfers, newest first, each with its stream and account kinds."""
    require_scope(caller, "ledger:read")
    budget = await find_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    page = (await transfers_of_budgets(session, caller, pages=[(budget.id, cursor)], limit=limit))[
        0
    ]
    return page.items, page.next_cursor


async def transfers_of_budgets(
    session: AsyncSession,
    caller: Caller,
    *,
    pages: Sequence[tuple[uuid.UUID, str | None]],
    limit: int,
) -> list[Slice[TransferView]]:
    """A page of transfers, newest first, for each (budget, cursor), in two queries.

    Budgets outside reach get empty pages (the caller found them within reach first).
    """
    require_scope(caller, "ledger:read")
    slices = await paginate_each(
        session,
        select(Transfer).where(budgets_reached(Transfer.budget_id, caller.agency_id)),
        owner=Transfer.budget_id,
        pages=pages,
        order=[Transfer.seq],
        limit=limit,
        newest_first=True,
    )
    ids = {t.debit_account_id for s in slices for t in s.items}
    ids |= {t.credit_account_id for s in slices for t in s.items}
    rows = await session.execute(
        select(Account.id, Account.stream_id, Account.kind).where(Account.id.in_(ids))
    )
    accounts = {account_id: (stream_id, kind) for account_id, stream_id, kind in rows}

    def views(transfers: list[Transfer]) -> list[TransferView]:
        return [
            view_of(
                TransferView,
                t,
                stream_id=accounts[t.debit_account_id][0],
                debit_account=accounts[t.debit_account_id][1],
                credit_account=accounts[t.credit_account_id][1],
            )
            for t in transfers
        ]

    return [page.map(views) for page in slices]


class NoBudgetForAward(NotFound):
    """No budget the agency leads or funds is the person's on the award's dates (or several
    are, and the award names none of them)."""


async def budget_for_award(
    session: AsyncSession, caller: Caller, *, person_reference: str, period: tuple[date, date]
) -> uuid.UUID:
    """The budget an agency's award for a person lands on: one the caller's agency leads or
    funds, for the person with this reference, whose period covers the award's first day.

    NoBudgetForAward (with why) when there is none, or more than one.
    """
    first, last = period
    query = (
        select(Budget.id)
        .join(Person, Person.id == Budget.person_id)
        .where(
            Person.reference == person_reference,
            budget_in_reach(caller.agency_id),
            Budget.starts_on <= first,
            Budget.ends_on >= first,
        )
        .limit(2)
    )
    found = list((await session.scalars(query)).all())
    if len(found) == 1:
        return found[0]
    days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    if not found:
        raise NoBudgetForAward(
            f"No budget your agency leads or funds is for person {person_reference!r} on"
            f" {days}: register the person and their budget (and bring your agency onto it),"
            " then replay."
        )
    raise NoBudgetForAward(
        f"More than one budget your agency reaches is for person {person_reference!r} on"
        f" {days}; the award cannot say which."
    )
