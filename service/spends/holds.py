"""Held money: posting (part of) a spend's or commitment's held lines, or releasing them.

Callers have locked the budget and decided the caller may do this; these functions only
move the money, as one linked batch.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.ledger import TransferKind, TransferSpec
from service.ledger.repository import LockedBudget, post_batch
from service.spends.models import Spend, SpendLine


async def resolve_holds(
    session: AsyncSession,
    *,
    budget: LockedBudget,
    spend: Spend,
    lines: Sequence[SpendLine],
    post_amounts: Sequence[int],
    code: str,
) -> None:
    """Post `post_amounts[i]` of each held line and release the rest, as one batch."""
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


async def release_holds(
    session: AsyncSession,
    *,
    budget: LockedBudget,
    spend: Spend,
    lines: Sequence[SpendLine],
    code: str,
) -> None:
    """Let go of every held line: the money goes back to the pots it came from."""
    zeros = [0] * len(lines)
    await resolve_holds(
        session, budget=budget, spend=spend, lines=lines, post_amounts=zeros, code=code
    )


def share_out(amount: int, lines: Sequence[SpendLine]) -> list[int]:
    """Pay `amount` from the held lines in the engine's order: restricted money first."""
    shares, left = [], amount
    for line in lines:
        share = min(line.amount, left)
        shares.append(share)
        left -= share
    return shares
