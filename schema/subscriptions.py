"""Subscriptions: a budget as it changes, over the websocket at /graphql (schema.live).

Fed by the process's hub of budget changes (service.events): a change committed by any
worker process, through REST or GraphQL, wakes the subscribers of every process, and each
reads the budget again through the services, with its own caller's reach.
"""

import uuid
from collections.abc import AsyncGenerator

import strawberry

from schema.live import LiveContext
from schema.scalars import parse_id
from schema.types import Budget, Ctx


async def _updates(context: LiveContext, budget_id: uuid.UUID) -> AsyncGenerator[Budget, None]:
    """The budget as it is, then again after each change (or gap) the hub signals.

    Subscribed first, then read: a change committed between the two is read, or signalled.
    Each read has a session of its own, open until its fields are resolved; none is held
    while waiting. The stream ends when the hub stops (the app is shutting down).
    """
    async with context.events.subscribe(budget_id) as signals:
        while True:
            async with context.reading():
                yield Budget.of(await context.loaders.budget.load(budget_id))
            if await anext(signals, None) is None:
                return


@strawberry.type(
    description="Live updates, over the websocket at /graphql (protocol graphql-transport-ws,"
    ' the token in connection_init: {"Authorization": "Bearer <token>"}).'
)
class Subscription:
    @strawberry.subscription(
        description="The budget as it is now, then again after every change to it: a spend,"
        " a commitment, an allocation, an approval, made through any API and any worker"
        " (budgets:read). Changes close together may arrive as one update, always the latest"
        " state. Outside your reach: NOT_FOUND, as for budget(id:)."
    )
    async def budget_updated(
        self, info: Ctx, budget_id: strawberry.ID
    ) -> AsyncGenerator[Budget, None]:
        """The budget, now and after each change."""
        context = info.context
        assert isinstance(context, LiveContext)  # schema.live.LiveOperations sees to it
        wanted = parse_id(budget_id, what="budget")
        # Access refused here is the field's error, exactly as a query's, before any update.
        async with context.reading():
            await context.loaders.budget.load(wanted)
        return _updates(context, wanted)
