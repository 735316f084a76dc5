"""Helpers for tests of live budget updates (service/events): waiting on a hub and its signals."""

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.events.hub import BudgetEvents, BudgetSignal, Subscription, Timing
from service.events.publish import budget_changed

# Quick retries and pings, so a test of a lost connection takes a second, not half a minute.
FAST = Timing(
    first_retry_seconds=0.05, max_retry_seconds=0.5, ping_seconds=1.0, ping_timeout_seconds=1.0
)
WAIT_SECONDS = 15.0  # generous: the machine is shared, and a miss fails only after this


async def until_listening(hub: BudgetEvents, *, other_than: int | None = None) -> int:
    """Wait until the hub listens (on a backend other than `other_than`); its backend pid."""
    async with asyncio.timeout(WAIT_SECONDS):
        while not hub.listening or hub.backend_pid in (None, other_than):
            await asyncio.sleep(0.01)
    pid = hub.backend_pid
    assert pid is not None
    return pid


async def next_signal(signals: Subscription) -> BudgetSignal:
    """The subscriber's next wake-up, failing the test if none comes."""
    return await asyncio.wait_for(anext(signals), WAIT_SECONDS)


async def nothing_pending(signals: Subscription) -> bool:
    """True if no signal waits for the subscriber (call after drained(): nothing is late)."""
    try:
        await asyncio.wait_for(anext(signals), 0.05)
    except TimeoutError:
        return True
    return False


async def drained(hub: BudgetEvents, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Every change committed before this call has reached the hub's subscribers.

    A listener reads notifications in commit order, so once a fresh one committed now has
    arrived, every earlier one has been handed out.
    """
    fence = uuid.uuid4()
    async with hub.subscribe(fence) as signals:
        async with sessions() as session, session.begin():
            await budget_changed(session, budget_id=fence)
        await next_signal(signals)


async def take_whatever_came(
    hub: BudgetEvents, sessions: async_sessionmaker[AsyncSession], signals: Subscription
) -> None:
    """Let every change committed so far arrive, and take its signal: a clean slate."""
    await drained(hub, sessions)
    await nothing_pending(signals)
