"""Spending from a budget: the pooling engine splits, the ledger moves the money.

A spend locks its budget, asks the pure engine for a split over the pots it read under
that lock, then posts the linked batch: posted transfers, or pending ones while an agency's
approval is awaited. Commitments hold money the same way until posted, voided or expired.

Who may: the budget's lead agency records spends and commitments and reverses, posts and
voids them; an agency with a line awaiting its approval approves or rejects; any agency
that reaches the budget reads (service.policy).
"""

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import Slice
from service.auth.caller import Caller
from service.budgets.repository import find_budget
from service.clock import Clock, utc_now
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import FundingLine, SplitLine, StreamFunds, split_spend
from service.domain.vocabulary import Approval, Category, EventType, SpendKind, SpendStatus
from service.events.publish import budget_changed
from service.idempotency.store import Keeper
from service.ledger.clock import recorded_time
from service.ledger.repository import LockedBudget, lock_budget
from service.policy import require_lead, require_scope
from service.spends.errors import (
    CommitmentExpired,
    ExpiryInPast,
    NotAwaitingApproval,
    NotAwaitingYou,
    NotHeld,
    NotPosted,
    OutsidePeriod,
    OverPosting,
    StillAwaitingApproval,
)
from service.spends.holds import release_holds, resolve_holds, share_out
from service.spends.models import NewLine, NewSpend, Spend, SpendLine
from service.spends.repository import (
    HELD,
    REVERSAL_CODE,
    SpendLock,
    awaiting_on_budgets,
    find_spend,
    lines_of,
    lock_for_spend,
    page_awaiting,
    page_of_budget,
    pages_of_budgets,
    record,
    spend_entries,
)
from service.spends.views import SpendView, spend_view
from service.webhooks.events import DEFAULT_LOW_PERCENT, Event, budget_low, spend_event
from service.webhooks.outbox import publish

# What counts as "the same purchase lately" for approval thresholds, unless set otherwise.
DEFAULT_APPROVAL_WINDOW = timedelta(days=7)


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
            recent_amount=pot.recent_amount,
        )
        for pot in budget.pots
    ]


async def _lock_as_lead(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    category: Category,
    payee: str | None,
    window: timedelta,
    action: str,
    keeper: Keeper | None,
) -> SpendLock:
    """Lock the budget for new money out, which only its lead agency may record."""
    require_scope(caller, "spends:write")
    locked = await lock_for_spend(
        session,
        budget_id=budget_id,
        agency_id=caller.agency_id,
        category=category,
        payee=payee,
        window=window,
        keeper=keeper,
    )
    require_lead(caller, lead_agency_id=locked.budget.lead_agency_id, action=action)
    return locked


def _spend_event(
    type_: EventType,
    spend: NewSpend | Spend,
    lines: Sequence[NewLine | SpendLine],
    **extra: str,
) -> Event:
    """A spend.* webhook event for this spend and its lines as they stand."""
    return spend_event(
        type_,
        budget_id=spend.budget_id,
        spend_id=spend.id,
        amount=spend.amount,
        status=spend.status,
        lines=[(line.stream_id, line.agency_id, line.amount) for line in lines],
        **extra,
    )


def _money_out_events(
    budget: LockedBudget, spend: NewSpend, rows: Sequence[NewLine], *, low_percent: int
) -> list[Event]:
    """What partners hear of new money out: the spend itself, and budget.low if it crossed."""
    events = []
    if spend.kind is SpendKind.SPEND:
        awaiting = spend.status == SpendStatus.PENDING_APPROVAL
        type_ = EventType.SPEND_PENDING_APPROVAL if awaiting else EventType.SPEND_POSTED
        events.append(_spend_event(type_, spend, rows))
    available = sum(pot.available for pot in budget.pots)
    funded = available + sum(pot.pending + pot.spent for pot in budget.pots)
    low = budget_low(
        budget_id=budget.id,
        funded=funded,
        before=available,
        after=available - spend.amount,
        percent=low_percent,
    )
    return events + low


async def _record_new(
    session: AsyncSession,
    *,
    locked: SpendLock,
    spend: NewSpend,
    lines: Sequence[FundingLine],
    hold: bool,
    keeper: Keeper | None,
    low_percent: int,
) -> SpendView:
    """Write a new spend or commitment with its lines, its batch and its webhook events;
    return its view.

    With a keeper, the view is rendered and kept as the request's answer in the same
    statement; that needs the spend's created_at first, which is the transaction's time.
    """
    pots = locked.budget.pots
    accounts = {pot.stream_id: (pot.pot_account_id, pot.spent_account_id) for pot in pots}
    transfers, rows = spend_entries(spend, lines, accounts, hold=hold)
    events = _money_out_events(locked.budget, spend, rows, low_percent=low_percent)
    if keeper is None or locked.now is None:
        await record(session, spend=spend, lines=rows, transfers=transfers, events=events)
        return spend_view(spend, rows)
    spend.version, spend.created_at = 1, recorded_time(session) or locked.now
    view = spend_view(spend, rows)
    await record(
        session,
        spend=spend,
        lines=rows,
        transfers=transfers,
        keep=keeper.keep_params(view),
        events=events,
    )
    return view


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
    approval_window: timedelta = DEFAULT_APPROVAL_WINDOW,
    keeper: Keeper | None = None,
    low_percent: int = DEFAULT_LOW_PERCENT,
) -> SpendView:
    """Split a spend across the budget's streams and pay it, or hold it for approval.

    With a keeper (an idempotent request), its key is claimed and its answer kept by the
    same statements that lock the budget and write the spend. `low_percent` is budget.low's
    threshold (service.webhooks.events).
    """
    locked = await _lock_as_lead(
        session,
        caller,
        budget_id=budget_id,
        category=category,
        payee=payee,
        window=approval_window,
        action="record a spend",
        keeper=keeper,
    )
    budget = locked.budget
    if not budget.starts_on <= occurred_on <= budget.ends_on:
        raise OutsidePeriod(
            f"occurred_on {occurred_on} is outside the budget's period"
            f" ({budget.starts_on} to {budget.ends_on})."
        )
    lines = split_spend(amount=amount, category=category, streams=_funds(budget), preferred=split)
    awaiting = any(line.needs_approval for line in lines)
    spend = NewSpend(
        id=spend_id,
        budget_id=budget.id,
        kind=SpendKind.SPEND,
        status=SpendStatus.PENDING_APPROVAL if awaiting else SpendStatus.POSTED,
        amount=amount,
        category=category,
        description=description,
        payee=payee,
        occurred_on=occurred_on,
        client_id=caller.client_pk,
    )
    return await _record_new(
        session,
        locked=locked,
        spend=spend,
        lines=lines,
        hold=awaiting,
        keeper=keeper,
        low_percent=low_percent,
    )


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
    approval_window: timedelta = DEFAULT_APPROVAL_WINDOW,
    clock: Clock = utc_now,
    keeper: Keeper | None = None,
    low_percent: int = DEFAULT_LOW_PERCENT,
) -> SpendView:
    """Hold money for booked support, split across streams like a spend (keeper and
    low_percent: as there)."""
    locked = await _lock_as_lead(
        session,
        caller,
        budget_id=budget_id,
        category=category,
        payee=None,
        window=approval_window,
        action="hold money",
        keeper=keeper,
    )
    budget = locked.budget
    if expires_at <= clock():
        raise ExpiryInPast(f"expires_at ({expires_at.isoformat()}) must be in the future.")
    lines = split_spend(amount=amount, category=category, streams=_funds(budget))
    # Held money over a stream's threshold waits for that agency, as a spend would: otherwise
    # a commitment posted later would pay without the approval the agency asked for.
    awaiting = any(line.needs_approval for line in lines)
    commitment = NewSpend(
        id=commitment_id,
        budget_id=budget.id,
        kind=SpendKind.COMMITMENT,
        status=SpendStatus.PENDING_APPROVAL if awaiting else SpendStatus.PENDING,
        amount=amount,
        category=category,
        description=description,
        expires_at=expires_at,
        client_id=caller.client_pk,
    )
    return await _record_new(
        session,
        locked=locked,
        spend=commitment,
        lines=lines,
        hold=True,
        keeper=keeper,
        low_percent=low_percent,
    )


async def get_spend(
    session: AsyncSession, caller: Caller, *, spend_id: uuid.UUID, kind: SpendKind
) -> SpendView:
    """A spend (or commitment) on a budget within reach, with its lines; or 404."""
    require_scope(caller, "spends:read")
    spend = await find_spend(
        session, spend_id=spend_id, kind=kind, within_reach_of=caller.agency_id
    )
    return spend_view(spend, (await lines_of(session, [spend.id]))[spend.id])


async def _views(session: AsyncSession, spends: Sequence[Spend]) -> list[SpendView]:
    lines = await lines_of(session, [spend.id for spend in spends])
    return [spend_view(spend, lines[spend.id]) for spend in spends]


async def list_spends(
    session: AsyncSession,
    caller: Caller,
    *,
    budget_id: uuid.UUID,
    kind: SpendKind,
    cursor: str | None,
    limit: int,
) -> tuple[list[SpendView], str | None]:
    """A budget's spends (or commitments), newest first."""
    require_scope(caller, "spends:read")
    budget = await find_budget(session, budget_id=budget_id, within_reach_of=caller.agency_id)
    rows, next_cursor = await page_of_budget(
        session, budget_id=budget.id, kind=kind, cursor=cursor, limit=limit
    )
    return await _views(session, rows), next_cursor


async def spends_of_budgets(
    session: AsyncSession,
    caller: Caller,
    *,
    pages: Sequence[tuple[uuid.UUID, str | None]],
    kind: SpendKind,
    limit: int,
) -> list[Slice[SpendView]]:
    """list_spends for each (budget, cursor): two queries whatever the number of budgets.

    Budgets outside reach get empty pages (callers found the budgets within reach first).
    """
    require_scope(caller, "spends:read")
    slices = await pages_of_budgets(
        session, pages=pages, kind=kind, within_reach_of=caller.agency_id, limit=limit
    )
    spends = [spend for page in slices for spend in page.items]
    lines = await lines_of(session, [spend.id for spend in spends])
    return [
        page.map(lambda rows: [spend_view(row, lines[row.id]) for row in rows]) for page in slices
    ]


async def awaiting_approval(
    session: AsyncSession, caller: Caller, *, budget_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SpendView]]:
    """Each budget's spends and commitments awaiting any agency's approval, oldest first."""
    require_scope(caller, "spends:read")
    rows = await awaiting_on_budgets(
        session, budget_ids=budget_ids, within_reach_of=caller.agency_id
    )
    found: dict[uuid.UUID, list[SpendView]] = {budget_id: [] for budget_id in budget_ids}
    for view in await _views(session, rows):
        found[view.budget_id].append(view)
    return found


async def list_approvals(
    session: AsyncSession, caller: Caller, *, cursor: str | None, limit: int
) -> tuple[list[SpendView], str | None]:
    """Spends and commitments with a line awaiting the caller's agency, oldest first."""
    require_scope(caller, "spends:approve")
    rows, next_cursor = await page_awaiting(
        session, agency_id=caller.agency_id, cursor=cursor, limit=limit
    )
    return await _views(session, rows), next_cursor


async def _locked(
    session: AsyncSession, caller: Caller, spend_id: uuid.UUID, *, kind: SpendKind
) -> tuple[Spend, list[SpendLine], LockedBudget]:
    """Find a spend within reach, lock its budget, then re-read it so its state is current."""
    found = await find_spend(
        session, spend_id=spend_id, kind=kind, within_reach_of=caller.agency_id
    )
    budget = await lock_budget(session, budget_id=found.budget_id, within_reach_of=caller.agency_id)
    spend = await find_spend(
        session, spend_id=spend_id, kind=kind, within_reach_of=caller.agency_id
    )
    return spend, (await lines_of(session, [spend.id]))[spend.id], budget


async def decide(
    session: AsyncSession,
    caller: Caller,
    *,
    spend_id: uuid.UUID,
    approve: bool,
    kind: SpendKind = SpendKind.SPEND,
) -> SpendView:
    """The caller's agency approves or rejects its lines; any rejection frees the money.

    When every line is approved a spend is paid, and a commitment stays held, now postable.
    """
    require_scope(caller, "spends:approve")
    spend, lines, budget = await _locked(session, caller, spend_id, kind=kind)
    mine = [
        line
        for line in lines
        if line.approval == Approval.AWAITING and line.agency_id == caller.agency_id
    ]
    if spend.status != SpendStatus.PENDING_APPROVAL:
        raise NotAwaitingApproval(
            f"This {kind.value} is {spend.status}; only one awaiting approval can be decided."
        )
    if not mine:
        raise NotAwaitingYou(f"No part of this {kind.value} awaits your agency's approval.")
    for line in mine:
        line.approval = Approval.APPROVED if approve else Approval.REJECTED
    if not approve:
        await release_holds(session, budget=budget, spend=spend, lines=lines, code="rejection")
        spend.status = SpendStatus.REJECTED
    elif all(line.approval != Approval.AWAITING for line in lines):
        if kind is SpendKind.COMMITMENT:
            spend.status = SpendStatus.PENDING
        else:
            amounts = [line.amount for line in lines]
            await resolve_holds(
                session,
                budget=budget,
                spend=spend,
                lines=lines,
                post_amounts=amounts,
                code="approval",
            )
            spend.status = SpendStatus.POSTED
    spend.version += 1
    await session.flush()
    # A decision changes the budget's approvals even when no money moves (a partial approval,
    # an approved commitment); where money moved too, PostgreSQL sends the two as one.
    await budget_changed(session, budget_id=budget.id)
    if kind is SpendKind.SPEND:
        decided = EventType.SPEND_APPROVED if approve else EventType.SPEND_REJECTED
        await publish(session, budget_id=budget.id, events=[_spend_event(decided, spend, lines)])
    return spend_view(spend, lines)


async def reverse_spend(
    session: AsyncSession, caller: Caller, *, spend_id: uuid.UUID, reversal_id: uuid.UUID
) -> SpendView:
    """Return a posted spend's money to the streams that paid, in the amounts each paid."""
    require_scope(caller, "spends:write")
    spend, lines, budget = await _locked(session, caller, spend_id, kind=SpendKind.SPEND)
    require_lead(caller, lead_agency_id=budget.lead_agency_id, action="reverse a spend")
    if spend.status != SpendStatus.POSTED:
        raise NotPosted(f"This spend is {spend.status}; only a posted spend can be reversed.")
    pots = {pot.stream_id: pot for pot in budget.pots}
    reversal = NewSpend(
        id=reversal_id,
        budget_id=budget.id,
        kind=SpendKind.REVERSAL,
        status=SpendStatus.POSTED,
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
            NewLine(
                spend_id=reversal.id,
                position=line.position,
                stream_id=line.stream_id,
                agency_id=line.agency_id,
                amount=line.amount,
                reason="Returned to the stream that paid it.",
                approval=Approval.NOT_NEEDED,
                transfer_id=transfer.id,
            )
        )
    spend.status = SpendStatus.REVERSED
    event = _spend_event(EventType.SPEND_REVERSED, spend, lines, reversal_id=str(reversal.id))
    await record(session, spend=reversal, lines=rows, transfers=transfers, events=[event])
    spend.version += 1
    await session.flush()
    return spend_view(reversal, rows)


async def _held_commitment(
    session: AsyncSession, caller: Caller, commitment_id: uuid.UUID, *, action: str, clock: Clock
) -> tuple[Spend, list[SpendLine], LockedBudget]:
    """A commitment the caller leads the budget of, locked, still holding money."""
    require_scope(caller, "spends:write")
    commitment, lines, budget = await _locked(
        session, caller, commitment_id, kind=SpendKind.COMMITMENT
    )
    require_lead(caller, lead_agency_id=budget.lead_agency_id, action=action)
    if commitment.status not in HELD:
        raise NotHeld(f"This commitment is {commitment.status}; it holds no money any more.")
    if commitment.expires_at is not None and commitment.expires_at <= clock():
        # A refusal rolls this transaction back, so releasing here would never land: the
        # expiry sweep releases the money.
        raise CommitmentExpired(
            f"This commitment expired at {commitment.expires_at.isoformat()};"
            " its held money is being released to the pots."
        )
    return commitment, lines, budget


async def post_commitment(
    session: AsyncSession,
    caller: Caller,
    *,
    commitment_id: uuid.UUID,
    amount: int | None,
    clock: Clock = utc_now,
) -> SpendView:
    """Pay a commitment in full, or `amount` of it; the rest goes back to the pots."""
    commitment, lines, budget = await _held_commitment(
        session, caller, commitment_id, action="pay held money", clock=clock
    )
    if commitment.status == SpendStatus.PENDING_APPROVAL:
        raise StillAwaitingApproval(
            "This commitment awaits an agency's approval; it cannot be paid yet."
        )
    to_post = commitment.amount if amount is None else amount
    if to_post > commitment.amount:
        raise OverPosting(
            f"Cannot pay {to_post} pence: the commitment holds {commitment.amount}.",
            held_amount=commitment.amount,
        )
    await resolve_holds(
        session,
        budget=budget,
        spend=commitment,
        lines=lines,
        post_amounts=share_out(to_post, lines),
        code="post",
    )
    commitment.status = SpendStatus.POSTED
    commitment.posted_amount = to_post
    commitment.version += 1
    await session.flush()
    return spend_view(commitment, lines)


async def void_commitment(
    session: AsyncSession, caller: Caller, *, commitment_id: uuid.UUID, clock: Clock = utc_now
) -> SpendView:
    """Release a commitment's held money back to the pots it came from."""
    commitment, lines, budget = await _held_commitment(
        session, caller, commitment_id, action="release held money", clock=clock
    )
    await release_holds(session, budget=budget, spend=commitment, lines=lines, code="void")
    commitment.status = SpendStatus.VOIDED
    commitment.posted_amount = 0
    commitment.version += 1
    await session.flush()
    return spend_view(commitment, lines)
