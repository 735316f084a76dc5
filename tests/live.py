"""Helpers for tests of live budget updates (service/events): waiting on a hub and its signals,
and a real `onebudget serve` on the test's database."""

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.server import Server, start_server
from service.database import driver_dsn
from service.events.hub import APPLICATION_NAME, BudgetEvents, BudgetSignal, Subscription, Timing
from service.events.publish import budget_changed

# Quick retries and pings, so a test of a lost connection takes a second, not half a minute.
FAST = Timing(
    first_retry_seconds=0.05, max_retry_seconds=0.5, ping_seconds=1.0, ping_timeout_seconds=1.0
)
WAIT_SECONDS = 15.0  # generous: the machine is shared, and a miss fails only after this


async def until_listening(hub: BudgetEvents, *, other_than: int | None = None) -> int:
    """Wait until the hub is connected, ready to LISTEN for its subscribers (on a backend
    other than `other_than`); its backend pid."""
    async with asyncio.timeout(WAIT_SECONDS):
        while not hub.connected or hub.backend_pid in (None, other_than):
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


@contextlib.asynccontextmanager
async def serving(database_url: str, *, workers: int | None = None) -> AsyncIterator[Server]:
    """`onebudget serve` on the database and a free port, stopped (gracefully) afterwards."""
    with tempfile.TemporaryDirectory(prefix="onebudget-serve-") as data_dir:
        served = await start_server(database_url, Path(data_dir), workers=workers)
        try:
            yield served
        finally:
            served.stop()


async def listeners(database_url: str) -> set[int]:
    """The backends of every hub listening on the database."""
    connection = await asyncpg.connect(driver_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await connection.close()
    return {row["pid"] for row in rows}


def worker_serving(server: Server, client_port: int) -> int:
    """The worker process holding the server's end of a connection made from this local port."""
    for pid in server.worker_pids():
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == client_port:
                return pid
    raise LookupError(f"no worker holds a connection from port {client_port}")
