"""The hub alone: it survives losing its connection, coalesces for slow subscribers, stops cleanly.

Each test runs a hub of its own on the test's own database and sends notifications the way
the service does (service.events.publish), from connections of their own.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi import FastAPI

from bench.server import free_port
from service.database import driver_dsn
from service.events.hub import APPLICATION_NAME, BudgetEvents, BudgetSignal
from service.events.publish import CHANNEL
from tests.live import FAST, WAIT_SECONDS, drained, next_signal, nothing_pending, until_listening
from tests.wire import wire_tap


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own to its database (each statement commits by itself)."""
    connection = await asyncpg.connect(driver_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _announce(database: asyncpg.Connection, payload: object, times: int = 1) -> None:
    """Committed changes of a budget, one transaction each, as the service announces them."""
    for _ in range(times):
        await database.execute("SELECT pg_notify($1, $2)", CHANNEL, str(payload))


async def test_the_hub_listens_again_after_its_connection_is_killed(
    database_url: str, database: asyncpg.Connection
) -> None:
    budget_id = uuid.uuid4()
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    async with hub.running():
        killed = await until_listening(hub)
        async with hub.subscribe(budget_id) as signals:
            assert await database.fetchval("SELECT pg_terminate_backend($1)", killed)
            # Whatever was announced while it was down is lost: it says so, once listening.
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=True)
            assert hub.listening and hub.backend_pid != killed
            await _announce(database, budget_id)
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=False)


async def test_the_hub_listens_only_while_someone_in_its_process_subscribes(
    database_url: str, database: asyncpg.Connection
) -> None:
    """A process nobody watches is not woken by every money movement of every budget."""
    watched, other = uuid.uuid4(), uuid.uuid4()
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    async with hub.running():
        await until_listening(hub)
        assert hub.connected and not hub.listening
        async with hub.subscribe(watched) as signals:
            assert hub.listening  # in place before subscribe() returned: nothing slips by
            await _announce(database, watched)
            assert await next_signal(signals) == BudgetSignal(watched, gap=False)
            async with hub.subscribe(other):
                pass
            await asyncio.sleep(0.1)
            assert hub.listening  # one subscriber left
        async with asyncio.timeout(WAIT_SECONDS):
            while hub.listening:
                await asyncio.sleep(0.01)
        async with hub.subscribe(watched) as again:
            await _announce(database, watched)
            assert await next_signal(again) == BudgetSignal(watched, gap=False)


async def test_the_hub_finds_a_silently_dead_connection_by_its_ping(database_url: str) -> None:
    """A network cut sends no goodbye: the unanswered ping tells the hub to connect again."""
    budget_id = uuid.uuid4()
    async with wire_tap(database_url) as tap:
        hub = BudgetEvents(driver_dsn(tap.url_through), timing=FAST)
        async with hub.running(), hub.subscribe(budget_id) as signals:
            first = await until_listening(hub)
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=True)  # first LISTEN
            tap.go_silent()
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=True)
            assert hub.backend_pid != first
            database = await asyncpg.connect(driver_dsn(database_url))
            try:
                await _announce(database, budget_id)
            finally:
                await database.close()
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=False)


async def test_a_slow_subscriber_holds_one_signal_however_many_changes_it_missed(
    app: FastAPI, database_url: str, database: asyncpg.Connection
) -> None:
    """It only needs to know that the budget changed: a thousand changes wake it once."""
    budget_id = uuid.uuid4()
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    async with hub.running():
        await until_listening(hub)
        async with hub.subscribe(budget_id) as slow:
            await _announce(database, budget_id, times=1_000)
            await drained(hub, app.state.sessionmaker)  # all thousand have been handed out
            assert await next_signal(slow) == BudgetSignal(budget_id, gap=False)
            assert await nothing_pending(slow)


async def test_a_payload_that_is_not_a_budget_id_is_ignored(
    app: FastAPI, database_url: str, database: asyncpg.Connection
) -> None:
    budget_id = uuid.uuid4()
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    async with hub.running():
        listening = await until_listening(hub)
        async with hub.subscribe(budget_id) as signals:
            await _announce(database, "not a budget id")
            await _announce(database, budget_id)
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=False)
            assert hub.backend_pid == listening


async def _backends(database: asyncpg.Connection) -> set[int]:
    """The listening connections of any hub on this database."""
    rows = await database.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )
    return {row["pid"] for row in rows}


async def test_stopping_ends_every_subscription_and_closes_the_connection(
    database_url: str, database: asyncpg.Connection
) -> None:
    budget_id = uuid.uuid4()
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    async with hub.subscribe(budget_id) as signals:
        async with hub.running():
            pid = await until_listening(hub)
            assert await _backends(database) == {pid}
        async with asyncio.timeout(WAIT_SECONDS):
            while await _backends(database):
                await asyncio.sleep(0.02)
        # What it told the subscriber: nothing was seen before it first listened. Then the end.
        async with asyncio.timeout(WAIT_SECONDS):
            told = [signal async for signal in signals]
        assert told == [BudgetSignal(budget_id, gap=True)]
        async with hub.subscribe(budget_id) as late:
            assert [signal async for signal in late] == []


async def test_a_hub_that_cannot_reach_its_database_keeps_trying_and_still_stops_at_once() -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/onebudget"
    hub = BudgetEvents(nowhere, timing=FAST)
    async with asyncio.timeout(5):
        async with hub.running():
            await asyncio.sleep(0.5)  # several attempts, each refused
            assert not hub.listening
