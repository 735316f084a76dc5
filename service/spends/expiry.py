"""The system's own path: releasing commitments whose time ran out. No partner calls it.

It reaches every budget, because no agency is acting: it is a job of the service itself,
entered explicitly here rather than as a made-up partner.
"""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.vocabulary import SpendKind, SpendStatus
from service.ledger.repository import lock_budget
from service.spends.holds import release_holds
from service.spends.repository import EXPIRY_CODE, HELD, due_commitments, find_spend, lines_of


async def expire_commitments(session: AsyncSession, *, now: datetime) -> int:
    """Release every held commitment whose time has passed; returns how many."""
    expired = 0
    for commitment_id, budget_id in await due_commitments(session, now=now):
        budget = await lock_budget(session, budget_id=budget_id, within_reach_of=None)
        commitment = await find_spend(
            session, spend_id=commitment_id, kind=SpendKind.COMMITMENT, within_reach_of=None
        )
        if commitment.status not in HELD:
            continue  # settled by its lead while we waited for the lock
        lines = (await lines_of(session, [commitment.id]))[commitment.id]
        await release_holds(session, budget=budget, spend=commitment, lines=lines, code=EXPIRY_CODE)
        commitment.status = SpendStatus.EXPIRED
        commitment.version += 1
        expired += 1
    await session.flush()
    return expired
