"""Spending from a budget: the pooling engine splits, the ledger moves the money.

A spend locks its budget, asks the pure engine for a split over the pots it read under
that lock, then posts the linked batch: posted transfers, or pending ones while an agency's
approval is awaited. Commitments hold money the same way until posted, voided or expired.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.caller import Caller
from service.budgets.models import Budget
from service.domain.errors import DomainError
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import FundingLine, SplitLine, StreamFunds, split_spend
from service.domain.vocabulary import Category
from service.errors import NotFound
from service.ledger.repository import LockedBudget, batch_statement, lock_budget, post_batch
from service.reach import budget_in_reach
from service.spends.models import Spend, SpendLine

SPEND_CODE, HOLD_CODE, REVERSAL_CODE, EXPIRY_CODE = "spend", "hold", "reversal", "expiry"
HELD = ("pending", "pending_approval")  # commitment states whose money is still held


class OutsidePeriod(DomainError):
    """The spend's date is not within the budget's period."""


class WrongState(DomainError):
    """The spend or commitment is not in a state that allows this."""


class NotAwaitingYou(DomainError):
    """No part of this spend awaits the caller's agency's approval."""


def _funds(budget: LockedBudget) -> list[StreamFunds]:
    return [
        StreamFunds(
            stream_id=pot.stream_id,
            agency_id=pot.agency_id,
            name=pot.name,
            categories=pot.categories,
            unspent=pot.unspent,
            available=pot.available,
            approval_threshold=pot.approval_threshold,
        )
        for pot in budget.pots
    ]


def spend_entries(
    spend: Spend,
    lines: Sequence[FundingLine],
    accounts: Mapping[uuid.UUID, tuple[int, int]],
    *,
    hold: bool,
) -> tuple[list[TransferSpec], list[SpendLine]]:
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
        approval = "awaiting" if line.needs_approval else "not_needed"
        rows.append(
            SpendLine(
                spend_id=spend.id,
                position=position,
                stream_id=line.stream_id,
                agency_id=line.agency_id,
                amount=line.amount,
                reason=line.reason,
                approval=approval,
                transfer_id=transfer.id,
            )
        )
    return transfers, rows


async def _hold_or_pay(
    session: AsyncSession,
    caller: Caller,
    *,
    budget: LockedBudget,
    spend: Spend,
    lines: Sequence[FundingLine],
    hold: bool,
) -> list[SpendLine]:
    """Post the batch for a new spend or commitment and record its lines."""
    accounts = {pot.stream_id: (pot.pot_account_id, pot.spent_account_id) for pot in budget.pots}
    transfers, rows = spend_entries(spend, lines, accounts, hold=hold)
    await _record(session, spend=spend, lines=rows, transfers=transfers)
    return rows


# A spend (or commitment, or reversal) row, its lines and its ledger batch: one statement.
# Foreign keys are checked at the end of the statement, so the CTEs' order does not matter.
RECORD = batch_statement(
    """
    new_spend AS (
        INSERT INTO spend (id, budget_id, kind, status, amount, category, description, payee,
                           occurred_on, expires_at, reverses_id, client_id, version)
        VALUES (:spend_id, :budget_id, :spend_kind, :status, :spend_amount, :category,
                :description, :payee, :occurred_on, :expires_at, :reverses_id, :client_id, 1)
        RETURNING created_at
    ), new_lines AS (
        INSERT INTO spend_line (spend_id, position, stream_id, agency_id, amount, reason,
                                approval, transfer_id)
        SELECT :spend_id, l.position, l.stream_id, l.agency_id, l.amount, l.reason, l.approval,
               l.transfer_id
        FROM unnest(CAST(:line_positions AS int[]), CAST(:line_streams AS uuid[]),
                    CAST(:line_agencies AS uuid[]), CAST(:line_amounts AS bigint[]),
                    CAST(:line_reasons AS text[]), CAST(:line_approvals AS text[]),
                    CAST(:line_transfers AS uuid[]))
             AS l(position, stream_id, agency_id, amount, reason, approval, transfer_id)
        RETURNING 1
    )""",
    "(SELECT created_at FROM new_spend) AS created_at",
)


def record_params(spend: Spend, lines: Sequence[SpendLine]) -> dict[str, Any]:
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
        "line_positions": [line.position for line in lines],
        "line_streams": [line.stream_id for line in lines],
        "line_agencies": [line.agency_id for line in lines],
        "line_amounts": [line.amount for line in lines],
        "line_reasons": [line.reason for line in lines],
        "line_approvals": [line.approval for line in lines],
        "line_transfers": [line.transfer_id for line in lines],
    }


async def _record(
    session: AsyncSession,
    *,
    spend: Spend,
    lines: Sequence[SpendLine],
    transfers: Sequence[TransferSpec],
) -> None:
    """Write a new spend, its lines and its transfers in one round trip."""
    written = await post_batch(
        session,
        budget_id=spend.budget_id,
        transfers=transfers,
        reference_id=spend.id,
        statement=RECORD,
        extra=record_params(spend, lines),
    )
    spend.version = 1
    spend.created_at = written.created_at


async def record_spend(
    session: AsyncSession,
    caller: Caller,
    *,
    spend_id: uuid.UUID,
    budget_id: uuid.UUID,
    amount: int,
    category: Category,
    description: str,
    occurred_on: date,
    payee: str | None,
    split: Sequence[SplitLine] | None,
) -> tuple[Spend, list[SpendLine]]:
    """Split a spend across the budget's streams and pay it, or hold it for approval."""
    budget = await lock_budget(session, agency_id=caller.agency_id, budget_id=budget_id)
    if not budget.starts_on <= occurred_on <= budget.ends_on:
        raise OutsidePeriod(
            f"occurred_on {occurred_on} is outside the budget's period"
            f" ({budget.starts_on} to {budget.ends_on})."
        )
    lines = split_spend(amount=amount, category=category, streams=_funds(budget), preferred=split)
    awaiting = any(line.needs_approval for line in lines)
    spend = Spend(
        id=spend_id,
        budget_id=budget.id,
        kind="spend",
        status="pending_approval" if awaiting else "posted",
        amount=amount,
        category=category,
        description=description,
        payee=payee,
        occurred_on=occurred_on,
        client_id=caller.client_pk,
    )
    rows = await _hold_or_pay(
        session, caller, budget=budget, spend=spend, lines=lines, hold=awaiting
    )
    return spend, rows


async def record_commitment(
    session: AsyncSession,
    caller: Caller,
    *,
    commitment_id: uuid.UUID,
    budget_id: uuid.UUID,
    amount: int,
    category: Category,
    description: str,
    expires_at: datetime,
) -> tuple[Spend, list[SpendLine]]:
    """Hold money for booked support, split across streams like a spend."""
    budget = await lock_budget(session, agency_id=caller.agency_id, budget_id=budget_id)
    if expires_at <= datetime.now(UTC):
        raise OutsidePeriod("expires_at must be in the future.")
    lines = split_spend(amount=amount, category=category, streams=_funds(budget))
    # Held money over a stream's threshold waits for that agency, as a spend would: otherwise
    # a commitment posted later would pay without the approval the agency asked for.
    awaiting = any(line.needs_approval for line in lines)
    commitment = Spend(
        id=commitment_id,
        budget_id=budget.id,
        kind="commitment",
        status="pending_approval" if awaiting else "pending",
        amount=amount,
        category=category,
        description=description,
        expires_at=expires_at,
        client_id=caller.client_pk,
    )
    rows = await _hold_or_pay(
        session, caller, budget=budget, spend=commitment, lines=lines, hold=True
    )
    return commitment, rows


async def get_spend(
    session: AsyncSession, caller: Caller, spend_id: uuid.UUID, *, kind: str
) -> tuple[Spend, list[SpendLine]]:
    """A spend (or commitment) on a budget within reach, with its lines; or 404."""
    spend = await session.scalar(
        select(Spend)
        .join(Budget, Budget.id == Spend.budget_id)
        .where(Spend.id == spend_id, Spend.kind == kind, budget_in_reach(caller.agency_id))
    )
    if spend is None:
        raise NotFound(f"No {kind} {spend_id} is within your reach.")
    return spend, await lines_of(session, spend.id)


async def lines_of(session: AsyncSession, spend_id: uuid.UUID) -> list[SpendLine]:
    """A spend's lines in the engine's order, as stored now (never stale copies in the session)."""
    rows = await session.scalars(
        select(SpendLine)
        .where(SpendLine.spend_id == spend_id)
        .order_by(SpendLine.position)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def _locked(
    session: AsyncSession, caller: Caller, spend_id: uuid.UUID, *, kind: str
) -> tuple[Spend, list[SpendLine], LockedBudget]:
    """Find a spend, lock its budget, then re-read it so its state is current under the lock."""
    spend, _ = await get_spend(session, caller, spend_id, kind=kind)
    budget = await lock_budget(session, agency_id=caller.agency_id, budget_id=spend.budget_id)
    await session.refresh(spend)
    return spend, await lines_of(session, spend.id), budget


async def _resolve(
    session: AsyncSession,
    *,
    budget: LockedBudget,
    spend: Spend,
    lines: Sequence[SpendLine],
    post_amounts: Sequence[int],
    code: str,
) -> None:
    """Post (part of) each held line and release the rest, as one batch."""
    pots = {pot.stream_id: pot for pot in budget.pots}
    transfers = []
    for line, posted in zip(lines, post_amounts, strict=True):
        pot = pots[line.stream_id]
        transfers.append(
            TransferSpec(
                id=uuid.uuid5(line.transfer_id, code),
                debit_account_id=pot.pot_account_id,
                credit_account_id=pot.spent_account_id,
                amount=posted if posted else line.amount,
                kind=TransferKind.POST_PENDING if posted else TransferKind.VOID_PENDING,
                code=code,
                pending_id=line.transfer_id,
                pending_amount=line.amount,
            )
        )
    await post_batch(session, budget_id=budget.id, transfers=transfers, reference_id=spend.id)


async def _release(
    session: AsyncSession,
    *,
    budget: LockedBudget,
    spend: Spend,
    lines: Sequence[SpendLine],
    code: str,
) -> None:
    """Let go of every held line: the money goes back to the pots it came from."""
    zeros = [0] * len(lines)
    await _resolve(session, budget=budget, spend=spend, lines=lines, post_amounts=zeros, code=code)


async def approve_spend(
    session: AsyncSession,
    caller: Caller,
    *,
    spend_id: uuid.UUID,
    approve: bool,
    kind: str = "spend",
) -> tuple[Spend, list[SpendLine]]:
    """The caller's agency approves or rejects its lines; any rejection frees the money.

    When every line is approved a spend is paid, and a commitment stays held, now postable.
    """
    spend, lines, budget = await _locked(session, caller, spend_id, kind=kind)
    if spend.status != "pending_approval":
        raise WrongState(
            f"This {kind} is {spend.status}; only one awaiting approval can be decided."
        )
    mine = [
        line for line in lines if line.approval == "awaiting" and line.agency_id == caller.agency_id
    ]
    if not mine:
        raise NotAwaitingYou(f"No part of this {kind} awaits your agency's approval.")
    for line in mine:
        line.approval = "approved" if approve else "rejected"
    if not approve:
        await _release(session, budget=budget, spend=spend, lines=lines, code="rejection")
        spend.status = "rejected"
    elif all(line.approval != "awaiting" for line in lines):
        if kind == "commitment":
            spend.status = "pending"
        else:
            await _resolve(
                session,
                budget=budget,
                spend=spend,
                lines=lines,
                post_amounts=[line.amount for line in lines],
                code="approval",
            )
            spend.status = "posted"
    spend.version += 1
    await session.flush()
    return spend, lines


async def reverse_spend(
    session: AsyncSession, caller: Caller, *, spend_id: uuid.UUID, reversal_id: uuid.UUID
) -> tuple[Spend, list[SpendLine]]:
    """Return a posted spend's money to the streams that paid, in the amounts each paid."""
    spend, lines, budget = await _locked(session, caller, spend_id, kind="spend")
    if spend.status != "posted":
        raise WrongState(f"This spend is {spend.status}; only a posted spend can be reversed.")
    pots = {pot.stream_id: pot for pot in budget.pots}
    reversal = Spend(
        id=reversal_id,
        budget_id=budget.id,
        kind="reversal",
        status="posted",
        amount=spend.amount,
        category=spend.category,
        description=f"Reversal of spend {spend.id}",
        occurred_on=spend.occurred_on,
        reverses_id=spend.id,
        client_id=caller.client_pk,
    )
    transfers, rows = [], []
    for line in lines:
        pot = pots[line.stream_id]
        transfer = TransferSpec(
            id=uuid.uuid5(reversal.id, f"line-{line.position}"),
            debit_account_id=pot.spent_account_id,
            credit_account_id=pot.pot_account_id,
            amount=line.amount,
            kind=TransferKind.POSTED,
            code=REVERSAL_CODE,
        )
        transfers.append(transfer)
        rows.append(
            SpendLine(
                spend_id=reversal.id,
                position=line.position,
                stream_id=line.stream_id,
                agency_id=line.agency_id,
                amount=line.amount,
                reason="Returned to the stream that paid it.",
                approval="not_needed",
                transfer_id=transfer.id,
            )
        )
    await _record(session, spend=reversal, lines=rows, transfers=transfers)
    spend.status = "reversed"
    spend.version += 1
    await session.flush()
    return reversal, rows


def _share_out(amount: int, lines: Sequence[SpendLine]) -> list[int]:
    """Pay `amount` from the held lines in the engine's order: restricted money first."""
    shares, left = [], amount
    for line in lines:
        share = min(line.amount, left)
        shares.append(share)
        left -= share
    return shares


async def settle_commitment(
    session: AsyncSession,
    caller: Caller,
    *,
    commitment_id: uuid.UUID,
    amount: int | None,
) -> tuple[Spend, list[SpendLine]]:
    """Post a commitment in full or part (amount), or void it (amount 0)."""
    commitment, lines, budget = await _locked(session, caller, commitment_id, kind="commitment")
    if (
        commitment.status in HELD
        and commitment.expires_at is not None
        and commitment.expires_at <= datetime.now(UTC)
    ):
        # A refusal rolls this transaction back, so releasing here would never land: the
        # expiry sweep releases the money.
        raise WrongState(
            f"This commitment expired at {commitment.expires_at.isoformat()};"
            " its held money is being released to the pots."
        )
    if commitment.status == "pending_approval" and amount != 0:
        raise WrongState("This commitment awaits an agency's approval; it cannot be paid yet.")
    if commitment.status not in HELD:
        raise WrongState(
            f"This commitment is {commitment.status}; only a pending one can be settled."
        )
    to_post = commitment.amount if amount is None else amount
    if to_post > commitment.amount:
        raise WrongState(f"Cannot post more than the {commitment.amount} pence held.")
    await _resolve(
        session,
        budget=budget,
        spend=commitment,
        lines=lines,
        post_amounts=_share_out(to_post, lines),
        code="post" if to_post else "void",
    )
    commitment.status = "posted" if to_post else "voided"
    commitment.posted_amount = to_post
    commitment.version += 1
    await session.flush()
    return commitment, lines


async def expire_commitments(session: AsyncSession, *, now: datetime) -> int:
    """Release every pending commitment whose time has passed; returns how many."""
    due = (
        await session.execute(
            select(Spend.id, Budget.lead_agency_id)
            .join(Budget, Budget.id == Spend.budget_id)
            .where(Spend.kind == "commitment", Spend.status.in_(HELD), Spend.expires_at <= now)
            .limit(500)
        )
    ).all()
    expired = 0
    for commitment_id, lead_agency_id in due:
        system = Caller(
            client_pk=uuid.UUID(int=0),
            client_id="system",
            agency_id=lead_agency_id,
            scopes=frozenset(),
        )
        commitment, lines, budget = await _locked(session, system, commitment_id, kind="commitment")
        if commitment.status not in HELD:
            continue
        await _release(session, budget=budget, spend=commitment, lines=lines, code=EXPIRY_CODE)
        commitment.status = "expired"
        commitment.version += 1
        expired += 1
    await session.flush()
    return expired
