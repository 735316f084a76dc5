"""Ledger storage: accounts, the budget lock, and posting a linked batch in one statement.

Every money-moving transaction on a budget first locks all the budget's pot accounts, in
account id order (FOR NO KEY UPDATE, which leaves foreign-key checks unblocked). That one
step, always taken first and in one order, queues concurrent writers of a budget instead of
deadlocking them; the pot CHECK constraint still refuses any overdraft inside the statement
that moves the money.
"""

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asyncpg.exceptions import CheckViolationError, UniqueViolationError
from sqlalchemy import ColumnElement, Select, and_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.budgets.models import Budget
from service.budgets.repository import find_budget
from service.domain.errors import DomainError
from service.domain.ledger import AccountKind, Counters, TransferKind, TransferSpec, batch_effects
from service.domain.vocabulary import Category, Unspent
from service.events.publish import NOTIFY_COLUMN
from service.ledger.clock import recorded_time
from service.ledger.models import Account, Transfer
from service.policy import budget_in_reach
from service.sql import Statement, json_rows
from service.streams.models import FundingStream
from service.webhooks.events import Event
from service.webhooks.outbox import (
    NO_EVENTS,
    OUTBOX_COLUMN,
    OUTBOX_CTE,
    outbox_params,
    queue_deliveries,
)


class PendingAlreadyResolved(DomainError):
    """A pending transfer was posted or voided already (by a concurrent request)."""


class Overdrawn(DomainError):
    """The database refused a transfer that would take a pot below zero."""


class ForeignAccount(Exception):
    """A batch named an account of another budget: a bug in the caller, never a user error."""


@dataclass(frozen=True, slots=True)
class StreamAccounts:
    """The ids of one stream's four accounts on one budget."""

    stream_id: uuid.UUID
    contribution: int
    pot: int
    spent: int
    returned: int


@dataclass(frozen=True, slots=True)
class PotState:
    """One stream's pot on a locked budget: its rules, accounts and money free to spend."""

    stream_id: uuid.UUID
    agency_id: uuid.UUID
    name: str
    categories: frozenset[Category] | None
    unspent: Unspent
    approval_threshold: int | None
    pot_account_id: int
    spent_account_id: int
    available: int
    pending: int = 0  # held, awaiting posting or approval
    spent: int = 0
    recent_amount: int = 0  # what it paid lately for the same purchase (see spends)


@dataclass(frozen=True, slots=True)
class LockedBudget:
    """A budget locked for a money-moving transaction, with its pots."""

    id: uuid.UUID
    lead_agency_id: uuid.UUID
    starts_on: date
    ends_on: date
    currency: str
    pots: tuple[PotState, ...]


async def ensure_accounts(
    session: AsyncSession, *, budget_id: uuid.UUID, stream_id: uuid.UUID, currency: str
) -> StreamAccounts:
    """Open the stream's four accounts on the budget if they are not open yet."""
    await session.execute(
        text(
            "INSERT INTO account (budget_id, stream_id, kind, currency, debits_pending,"
            " debits_posted, credits_pending, credits_posted)"
            " SELECT :budget_id, :stream_id, kind, :currency, 0, 0, 0, 0"
            " FROM unnest(CAST(:kinds AS text[])) AS kind"
            " ON CONFLICT (budget_id, stream_id, kind) DO NOTHING"
        ),
        {
            "budget_id": budget_id,
            "stream_id": stream_id,
            "currency": currency,
            "kinds": [kind.value for kind in AccountKind],
        },
    )
    rows = await session.execute(
        select(Account.kind, Account.id).where(
            Account.budget_id == budget_id, Account.stream_id == stream_id
        )
    )
    ids = {AccountKind(kind): account_id for kind, account_id in rows}
    return StreamAccounts(
        stream_id=stream_id,
        contribution=ids[AccountKind.CONTRIBUTION],
        pot=ids[AccountKind.POT],
        spent=ids[AccountKind.SPENT],
        returned=ids[AccountKind.RETURNED],
    )


def pot_available(pot: type[Account]) -> ColumnElement[int]:
    """A pot account's money free to spend, in SQL (Counters.credit_balance)."""
    return pot.credits_posted - pot.debits_posted - pot.debits_pending


def lock_pots_statement(
    *, reach: bool = True, extra: Sequence[ColumnElement[Any]] = ()
) -> Select[Any]:
    """The statement lock_budget runs: build it once, since building costs more than running.

    With `reach`, it finds the budget only for the agency bound as :agency_id; `extra`
    columns (labelled, correlated to `POT`) ride along in the same round trip.
    """
    spent = aliased(Account)
    query = (
        select(
            Budget.id,
            Budget.lead_agency_id,
            Budget.starts_on,
            Budget.ends_on,
            Budget.currency,
            FundingStream.id.label("stream_id"),
            FundingStream.agency_id,
            FundingStream.name,
            FundingStream.categories,
            FundingStream.unspent,
            FundingStream.approval_threshold_amount,
            POT.id.label("pot_id"),
            pot_available(POT).label("available"),
            POT.debits_pending.label("pending"),
            spent.id.label("spent_id"),
            (spent.credits_posted - spent.debits_posted).label("spent"),
            *extra,
        )
        .join(Budget, Budget.id == POT.budget_id)
        .join(FundingStream, FundingStream.id == POT.stream_id)
        .join(
            spent,
            and_(
                spent.budget_id == POT.budget_id,
                spent.stream_id == POT.stream_id,
                spent.kind == AccountKind.SPENT.value,
            ),
        )
        .where(POT.budget_id == bindparam("budget_id"), POT.kind == AccountKind.POT.value)
        .order_by(POT.id)
        .with_for_update(of=POT, key_share=True)
    )
    if reach:
        query = query.where(budget_in_reach(bindparam("agency_id")))
    return query  # type: ignore[return-value]


# The pot account of each row lock_budget reads; extra columns correlate to it.
POT = aliased(Account, name="pot")
LOCK_POTS = Statement.of(lock_pots_statement())
LOCK_POTS_SYSTEM = Statement.of(lock_pots_statement(reach=False))


async def lock_budget(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    within_reach_of: uuid.UUID | None,
    statement: Statement | None = None,
    extra: Mapping[str, Any] | None = None,
) -> LockedBudget:
    """Lock a budget's pots (in account id order) and read them, in one round trip.

    `within_reach_of` is the calling agency (404 outside its reach), or None on the
    system path (expiry), which reaches every budget. The pot rows themselves are locked,
    not just the budget row: after waiting for a lock, PostgreSQL re-reads only the rows it
    locked, so the balances we read are the latest.
    """
    if statement is None:
        statement = LOCK_POTS if within_reach_of is not None else LOCK_POTS_SYSTEM
    params = {"budget_id": budget_id, "agency_id": within_reach_of, **(extra or {})}
    rows = await statement.fetch(session, params)
    return await budget_from_rows(
        session, rows, budget_id=budget_id, within_reach_of=within_reach_of
    )


async def budget_from_rows(
    session: AsyncSession,
    rows: Sequence[Mapping[str, Any]],
    *,
    budget_id: uuid.UUID,
    within_reach_of: uuid.UUID | None,
) -> LockedBudget:
    """The locked budget from a pot-lock statement's rows (a row without a pot is no pot).

    No pots: the budget is read on its own, which answers NotFound outside reach.
    """
    rows = [row for row in rows if row["pot_id"] is not None]
    if not rows:
        budget = await find_budget(session, budget_id=budget_id, within_reach_of=within_reach_of)
        return LockedBudget(
            id=budget.id,
            lead_agency_id=budget.lead_agency_id,
            starts_on=budget.starts_on,
            ends_on=budget.ends_on,
            currency=budget.currency,
            pots=(),
        )
    first = rows[0]
    pots = tuple(
        PotState(
            stream_id=row["stream_id"],
            agency_id=row["agency_id"],
            name=row["name"],
            categories=frozenset(Category(c) for c in row["categories"])
            if row["categories"] is not None
            else None,
            unspent=Unspent(row["unspent"]),
            approval_threshold=row["approval_threshold_amount"],
            pot_account_id=row["pot_id"],
            spent_account_id=row["spent_id"],
            available=row["available"],
            pending=row["pending"],
            spent=row["spent"],
            recent_amount=int(row.get("recent_amount") or 0),
        )
        for row in rows
    )
    return LockedBudget(
        id=first["id"],
        lead_agency_id=first["lead_agency_id"],
        starts_on=first["starts_on"],
        ends_on=first["ends_on"],
        currency=first["currency"],
        pots=pots,
    )


# The transfers of a linked batch and the counter updates they make, as CTEs of one
# statement: both happen or neither, and the pot CHECK judges the result.
_BATCH_CTES = (
    """
    moved AS (
        INSERT INTO transfer (id, budget_id, debit_account_id, credit_account_id, amount, kind,
                              pending_id, code, batch_id, reference_id, created_at)
        SELECT t.id, :budget_id, t.debit, t.credit, t.amount, t.kind, t.pending_id, t.code,
               :batch_id, :reference_id, COALESCE(CAST(:recorded_at AS timestamptz), now())
        FROM jsonb_to_recordset(CAST(:transfers AS jsonb))
             AS t(id uuid, debit bigint, credit bigint, amount bigint, kind text,
                  pending_id uuid, code text)
        RETURNING 1
    ), counted AS (
        UPDATE account AS a SET
            debits_pending = a.debits_pending + d.debits_pending,
            debits_posted = a.debits_posted + d.debits_posted,
            credits_pending = a.credits_pending + d.credits_pending,
            credits_posted = a.credits_posted + d.credits_posted
        FROM jsonb_to_recordset(CAST(:counters AS jsonb))
             AS d(id bigint, debits_pending bigint, debits_posted bigint, credits_pending bigint,
                  credits_posted bigint)
        WHERE a.id = d.id AND a.budget_id = :budget_id
        RETURNING 1
    ),"""
    + OUTBOX_CTE
)
# Every batch also announces its budget's change (delivered on commit) and writes the
# webhook messages of its events (service.webhooks.outbox): money never moves without
# them, and they cost no round trip of their own.
_BATCH_COUNTS = (
    "(SELECT count(*) FROM moved) AS transfers, (SELECT count(*) FROM counted) AS accounts,"
    f" {NOTIFY_COLUMN}, {OUTBOX_COLUMN}"
)


def batch_statement(ctes: str = "", returning: str = "") -> Statement:
    """POST_BATCH with the caller's own CTEs in the same statement: one round trip, one fate.

    Build it once per use (module level). Every batch statement announces its budget's
    change (service.events.publish) and carries its events to the webhook outbox, so no
    money-moving path can forget to.
    """
    prefix = f"{ctes}," if ctes else ""
    extra = f", {returning}" if returning else ""
    return Statement.of(text(f"WITH {prefix}{_BATCH_CTES} SELECT {_BATCH_COUNTS}{extra}"))


POST_BATCH = batch_statement()


async def post_batch(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    transfers: Sequence[TransferSpec],
    reference_id: uuid.UUID | None,
    statement: Statement = POST_BATCH,
    extra: Mapping[str, Any] | None = None,
    events: Sequence[Event] = (),
) -> Any:
    """Post a linked batch: all its transfers and counter updates in one statement, or none.

    `statement` may be a batch_statement() carrying more writes; `extra` are its parameters.
    `events` go to the webhook outbox in the same statement.
    """
    params = batch_params(
        budget_id=budget_id,
        transfers=transfers,
        reference_id=reference_id,
        recorded_at=recorded_time(session),
    )
    if events:
        params.update(outbox_params(events))
    # No savepoint: a refused batch aborts the whole request transaction anyway.
    try:
        counts = await statement.fetchrow(session, {**params, **(extra or {})})
    except CheckViolationError:
        raise Overdrawn("The money is no longer there; read the budget and retry.") from None
    except UniqueViolationError as exc:
        if "pending_id" in str(exc):
            raise PendingAlreadyResolved(
                "That held money was already posted or released."
            ) from None
        raise
    if counts["accounts"] != params["accounts_counted"]:
        raise ForeignAccount(f"a transfer named an account outside budget {budget_id}")
    await queue_deliveries(session, budget_id=budget_id, endpoint_ids=counts["webhook_endpoints"])
    return counts


def batch_params(
    *,
    budget_id: uuid.UUID,
    transfers: Sequence[TransferSpec],
    reference_id: uuid.UUID | None,
    recorded_at: datetime | None = None,
) -> dict[str, Any]:
    """The parameters of POST_BATCH for a checked linked batch (None: recorded now)."""
    deltas = batch_effects(transfers)
    return {
        "budget_id": budget_id,
        "recorded_at": recorded_at,
        "batch_id": uuid.uuid4(),
        "reference_id": reference_id,
        "transfers": json_rows(
            {
                "id": t.id,
                "debit": t.debit_account_id,
                "credit": t.credit_account_id,
                "amount": t.amount,
                "kind": t.kind,
                "pending_id": t.pending_id,
                "code": t.code,
            }
            for t in transfers
        ),
        "counters": json_rows(
            {
                "id": account_id,
                "debits_pending": c.debits_pending,
                "debits_posted": c.debits_posted,
                "credits_pending": c.credits_pending,
                "credits_posted": c.credits_posted,
            }
            for account_id, c in deltas.items()
        ),
        # Not a parameter: post_batch checks the statement updated this many accounts.
        "accounts_counted": len(deltas),
        **NO_EVENTS,
    }


async def counters_as_of(
    session: AsyncSession, *, budget_id: uuid.UUID, as_of: datetime
) -> dict[tuple[uuid.UUID, AccountKind], Counters]:
    """Every account's counters as they stood at as_of, folded from the transfers."""
    pending = aliased(Transfer)
    rows = await session.execute(
        select(
            Transfer.id,
            Transfer.debit_account_id,
            Transfer.credit_account_id,
            Transfer.amount,
            Transfer.kind,
            Transfer.code,
            Transfer.pending_id,
            pending.amount.label("held"),
        )
        .outerjoin(pending, pending.id == Transfer.pending_id)
        .where(Transfer.budget_id == budget_id, Transfer.created_at <= as_of)
    )
    specs = [
        TransferSpec(
            id=row.id,
            debit_account_id=row.debit_account_id,
            credit_account_id=row.credit_account_id,
            amount=row.amount,
            kind=TransferKind(row.kind),
            code=row.code,
            pending_id=row.pending_id,
            pending_amount=row.held or 0,
        )
        for row in rows
    ]
    deltas = batch_effects(specs)
    accounts = await session.execute(
        select(Account.id, Account.stream_id, Account.kind).where(Account.budget_id == budget_id)
    )
    return {
        (stream_id, AccountKind(kind)): deltas.get(account_id, Counters())
        for account_id, stream_id, kind in accounts
    }


async def current_counters(
    session: AsyncSession, *, budget_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[tuple[uuid.UUID, AccountKind], Counters]]:
    """Each budget's account counters now, read straight from the account rows: O(streams)."""
    found: dict[uuid.UUID, dict[tuple[uuid.UUID, AccountKind], Counters]] = {
        budget_id: {} for budget_id in budget_ids
    }
    rows = await session.execute(
        select(
            Account.budget_id,
            Account.stream_id,
            Account.kind,
            Account.debits_pending,
            Account.debits_posted,
            Account.credits_pending,
            Account.credits_posted,
        ).where(Account.budget_id.in_(found))
    )
    for row in rows:
        found[row.budget_id][(row.stream_id, AccountKind(row.kind))] = Counters(
            row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted
        )
    return found
