"""Spend rows and their SQL: the one-statement write, look-ups, lists and the lock for a spend.

A spend (or commitment, or reversal) row, its lines and its ledger batch are written by one
statement (RECORD), so a spend costs one round trip after its budget is locked.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Interval, Select, Uuid, any_, bindparam, case, exists, func, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import Slice, paginate, paginate_each
from service.auth.service import client_may_act_column, require_client_may_act
from service.budgets.models import Budget
from service.domain.errors import NotFound
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import FundingLine
from service.domain.vocabulary import Approval, Category, SpendKind, SpendStatus
from service.idempotency.store import KEEP_CTE, Keeper, claiming
from service.ledger.clock import recorded_time
from service.ledger.repository import (
    POT,
    LockedBudget,
    batch_statement,
    budget_from_rows,
    lock_pots_statement,
    post_batch,
)
from service.policy import budget_in_reach, budgets_reached
from service.spends.models import NewLine, NewSpend, Spend, SpendLine
from service.sql import Statement, json_rows
from service.streams.models import FundingStream
from service.webhooks.events import Event

SPEND_CODE, HOLD_CODE, REVERSAL_CODE, EXPIRY_CODE = "spend", "hold", "reversal", "expiry"
# Commitment states whose money is still held.
HELD = (SpendStatus.PENDING, SpendStatus.PENDING_APPROVAL)
# What counts towards "the same purchase" lately: anything paid, held or awaiting approval.
COUNTED = (SpendStatus.POSTED, SpendStatus.PENDING, SpendStatus.PENDING_APPROVAL)


def _recent_for_pot() -> Any:
    """What the pot's stream paid lately on this budget for the same category and payee.

    Only streams with an approval threshold need it, so others skip the sum.
    """
    recent = (
        select(func.coalesce(func.sum(SpendLine.amount), 0))
        .join(Spend, Spend.id == SpendLine.spend_id)
        .where(
            SpendLine.stream_id == POT.stream_id,
            Spend.budget_id == POT.budget_id,
            Spend.kind == any_(array([SpendKind.SPEND, SpendKind.COMMITMENT])),
            Spend.status == any_(array(COUNTED)),
            Spend.category == bindparam("category"),
            Spend.payee.is_not_distinct_from(bindparam("payee")),
            Spend.created_at
            > func.coalesce(bindparam("recorded_at", type_=DateTime(timezone=True)), func.now())
            - bindparam("window", type_=Interval()),
        )
        .scalar_subquery()
    )
    return case((FundingStream.approval_threshold_amount.is_(None), 0), else_=recent).label(
        "recent_amount"
    )


_LOCK_FOR_SPEND = lock_pots_statement(extra=[_recent_for_pot()])
LOCK_FOR_SPEND = Statement.of(_LOCK_FOR_SPEND)
# The same, claiming the request's idempotency key and checking its client (not revoked) in
# the same round trip.
CLAIM_AND_LOCK_FOR_SPEND = Statement.of(
    claiming(_LOCK_FOR_SPEND, client_may_act_column(bindparam("client_id", type_=Uuid())))
)


@dataclass(frozen=True, slots=True)
class SpendLock:
    """A budget locked for a new spend, and the transaction's time (the spend's created_at)."""

    budget: LockedBudget
    now: datetime | None


async def lock_for_spend(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    agency_id: uuid.UUID,
    category: Category,
    payee: str | None,
    window: timedelta,
    keeper: Keeper | None = None,
) -> SpendLock:
    """Lock the budget's pots, reading with each what it paid lately for the same purchase.

    With a keeper, the same statement also checks the request's client and claims its key:
    a revoked client gets AccessRevoked, and a key already answered AlreadyAnswered, before
    anything else is judged.
    """
    params = {
        "budget_id": budget_id,
        "agency_id": agency_id,
        "category": category.value,
        "payee": payee,
        "window": window,
        "recorded_at": recorded_time(session),
    }
    if keeper is None:
        rows = await LOCK_FOR_SPEND.fetch(session, params)
        now = None
    else:
        rows = await CLAIM_AND_LOCK_FOR_SPEND.fetch(session, {**params, **keeper.claim_params()})
        require_client_may_act(rows[0])
        keeper.settle(rows[0])
        now = rows[0]["claimed_at"]
    budget = await budget_from_rows(session, rows, budget_id=budget_id, within_reach_of=agency_id)
    return SpendLock(budget, now)


def spend_entries(
    spend: NewSpend,
    lines: Sequence[FundingLine],
    accounts: Mapping[uuid.UUID, tuple[int, int]],
    *,
    hold: bool,
) -> tuple[list[TransferSpec], list[NewLine]]:
    """A new spend's transfers (pot to spent, one a line; ids from the spend's) and line rows.

    `accounts` gives each stream's (pot, spent) account ids.
    """
    transfers, rows = [], []
    for position, line in enumerate(lines):
        pot, spent = accounts[line.stream_id]
        transfer = TransferSpec(
            id=uuid.uuid5(spend.id, f"line-{position}"),
            debit_account_id=pot,
            credit_account_id=spent,
            amount=line.amount,
            kind=TransferKind.PENDING if hold else TransferKind.POSTED,
            code=HOLD_CODE if hold else SPEND_CODE,
        )
        transfers.append(transfer)
        rows.append(
            NewLine(
                spend_id=spend.id,
                position=position,
                stream_id=line.stream_id,
                agency_id=line.agency_id,
                amount=line.amount,
                reason=line.reason,
                approval=Approval.AWAITING if line.needs_approval else Approval.NOT_NEEDED,
                transfer_id=transfer.id,
            )
        )
    return transfers, rows


# A spend (or commitment, or reversal) row, its lines and its ledger batch: one statement.
# Foreign keys are checked at the end of the statement, so the CTEs' order does not matter.
RECORD_CTES = """
    new_spend AS (
        INSERT INTO spend (id, budget_id, kind, status, amount, category, description, payee,
                           occurred_on, expires_at, reverses_id, client_id, version, created_at)
        VALUES (:spend_id, :budget_id, :spend_kind, :status, :spend_amount, :category,
                :description, :payee, :occurred_on, :expires_at, :reverses_id, :client_id, 1,
                COALESCE(CAST(:recorded_at AS timestamptz), now()))
        RETURNING created_at
    ), new_lines AS (
        INSERT INTO spend_line (spend_id, position, stream_id, agency_id, amount, reason,
                                approval, transfer_id)
        SELECT :spend_id, l.position, l.stream_id, l.agency_id, l.amount, l.reason, l.approval,
               l.transfer_id
        FROM jsonb_to_recordset(CAST(:lines AS jsonb))
             AS l(position int, stream_id uuid, agency_id uuid, amount bigint, reason text,
                  approval text, transfer_id uuid)
        RETURNING 1
    )"""
RECORD = batch_statement(RECORD_CTES, "(SELECT created_at FROM new_spend) AS created_at")
# The same, keeping the request's idempotent answer in the same statement.
RECORD_AND_KEEP = batch_statement(
    RECORD_CTES + "," + KEEP_CTE, "(SELECT created_at FROM new_spend) AS created_at"
)


def record_params(spend: NewSpend, lines: Sequence[NewLine]) -> dict[str, Any]:
    """RECORD's parameters for the spend row and its lines (post_batch adds the transfers')."""
    return {
        "spend_id": spend.id,
        "spend_kind": spend.kind,
        "status": spend.status,
        "spend_amount": spend.amount,
        "category": spend.category,
        "description": spend.description,
        "payee": spend.payee,
        "occurred_on": spend.occurred_on,
        "expires_at": spend.expires_at,
        "reverses_id": spend.reverses_id,
        "client_id": spend.client_id,
        "lines": json_rows(
            {
                "position": line.position,
                "stream_id": line.stream_id,
                "agency_id": line.agency_id,
                "amount": line.amount,
                "reason": line.reason,
                "approval": line.approval,
                "transfer_id": line.transfer_id,
            }
            for line in lines
        ),
    }


async def record(
    session: AsyncSession,
    *,
    spend: NewSpend,
    lines: Sequence[NewLine],
    transfers: Sequence[TransferSpec],
    keep: Mapping[str, Any] | None = None,
    events: Sequence[Event] = (),
) -> None:
    """Write a new spend, its lines and its transfers in one round trip (and its kept answer,
    with `keep`: KEEP_CTE's parameters; and its webhook events)."""
    written = await post_batch(
        session,
        budget_id=spend.budget_id,
        transfers=transfers,
        reference_id=spend.id,
        statement=RECORD if keep is None else RECORD_AND_KEEP,
        extra={**record_params(spend, lines), **(keep or {})},
        events=events,
    )
    spend.version = 1
    spend.created_at = written["created_at"]


async def find_spend(
    session: AsyncSession,
    *,
    spend_id: uuid.UUID,
    kind: SpendKind,
    within_reach_of: uuid.UUID | None,
) -> Spend:
    """A spend of this kind on a budget the agency reaches (any, on the system path); or 404."""
    query = select(Spend).where(Spend.id == spend_id, Spend.kind == kind)
    if within_reach_of is not None:
        query = query.join(Budget, Budget.id == Spend.budget_id).where(
            budget_in_reach(within_reach_of)
        )
    spend = await session.scalar(query.execution_options(populate_existing=True))
    if spend is None:
        raise NotFound(f"No {kind.value} {spend_id} is within your reach.")
    return spend


async def lines_of(
    session: AsyncSession, spend_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SpendLine]]:
    """Each spend's lines in the engine's order, as stored now (never stale session copies)."""
    found: dict[uuid.UUID, list[SpendLine]] = {spend_id: [] for spend_id in spend_ids}
    rows = await session.scalars(
        select(SpendLine)
        .where(SpendLine.spend_id.in_(spend_ids))
        .order_by(SpendLine.spend_id, SpendLine.position)
        .execution_options(populate_existing=True)
    )
    for line in rows:
        found[line.spend_id].append(line)
    return found


# A budget's spends and commitments are listed newest first, in this order.
NEWEST = [Spend.created_at, Spend.id]


async def page_of_budget(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    kind: SpendKind,
    cursor: str | None,
    limit: int,
) -> tuple[list[Spend], str | None]:
    """A page of one budget's spends (or commitments), newest first."""
    query = select(Spend).where(Spend.budget_id == budget_id, Spend.kind == kind)
    return await paginate(
        session, query, order=NEWEST, cursor=cursor, limit=limit, newest_first=True
    )


async def pages_of_budgets(
    session: AsyncSession,
    *,
    pages: Sequence[tuple[uuid.UUID, str | None]],
    kind: SpendKind,
    within_reach_of: uuid.UUID,
    limit: int,
) -> list[Slice[Spend]]:
    """page_of_budget for each (budget, cursor), in one statement; outside reach, empty."""
    query = select(Spend).where(
        Spend.kind == kind, budgets_reached(Spend.budget_id, within_reach_of)
    )
    return await paginate_each(
        session,
        query,
        owner=Spend.budget_id,
        pages=pages,
        order=NEWEST,
        limit=limit,
        newest_first=True,
    )


async def awaiting_on_budgets(
    session: AsyncSession, *, budget_ids: Sequence[uuid.UUID], within_reach_of: uuid.UUID
) -> list[Spend]:
    """Spends and commitments awaiting any agency's approval on these budgets, oldest first."""
    rows = await session.scalars(
        select(Spend)
        .where(
            Spend.budget_id.in_(budget_ids),
            Spend.status == SpendStatus.PENDING_APPROVAL,
            budgets_reached(Spend.budget_id, within_reach_of),
        )
        .order_by(Spend.created_at, Spend.id)
    )
    return list(rows)


def awaiting_agency(agency_id: uuid.UUID) -> Select[Spend]:
    """Spends and commitments with a line awaiting this agency's approval."""
    awaits = exists().where(
        SpendLine.spend_id == Spend.id,
        SpendLine.agency_id == agency_id,
        SpendLine.approval == Approval.AWAITING,
    )
    return select(Spend).where(Spend.status == SpendStatus.PENDING_APPROVAL, awaits)


async def page_awaiting(
    session: AsyncSession, *, agency_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Spend], str | None]:
    """A page of what awaits the agency's approval, oldest first."""
    return await paginate(
        session,
        awaiting_agency(agency_id),
        order=[Spend.created_at, Spend.id],
        cursor=cursor,
        limit=limit,
    )


async def due_commitments(
    session: AsyncSession, *, now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(commitment, budget) of up to 500 held commitments whose time has passed."""
    rows = await session.execute(
        select(Spend.id, Spend.budget_id)
        .where(Spend.kind == SpendKind.COMMITMENT, Spend.status.in_(HELD), Spend.expires_at <= now)
        .limit(500)
    )
    return [(commitment_id, budget_id) for commitment_id, budget_id in rows]
