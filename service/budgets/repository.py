"""Budget rows: the one reach-checked look-up every feature uses."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.budgets.models import Budget
from service.domain.errors import NotFound
from service.policy import budget_in_reach


async def find_budget(
    session: AsyncSession,
    *,
    budget_id: uuid.UUID,
    within_reach_of: uuid.UUID | None,
    for_update: bool = False,
) -> Budget:
    """The budget, if `within_reach_of` (an agency; None for the system) reaches it; or 404."""
    query = select(Budget).where(Budget.id == budget_id)
    if within_reach_of is not None:
        query = query.where(budget_in_reach(within_reach_of))
    if for_update:
        query = query.with_for_update(of=Budget)
    budget = await session.scalar(query)
    if budget is None:
        raise NotFound(f"No budget {budget_id} is within your reach.")
    return budget
