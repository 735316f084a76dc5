"""A change made through another process's REST API reaches this process's subscribers.

The real `onebudget serve` (one worker per core, as in production) runs against the test's
own database; this process's hub listens on the same database.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from bench.server import Server
from service.events.hub import BudgetEvents, BudgetSignal
from tests.live import WAIT_SECONDS, drained, listeners, next_signal, serving
from tests.partners import PartnerFactory
from tests.world import make_world, spend_body


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[Server]:
    """`onebudget serve` on a free port, stopped (gracefully) after the test."""
    async with serving(database_url) as served:
        yield served


async def test_a_spend_made_in_another_process_reaches_this_process_s_subscribers(
    partners: PartnerFactory, budget_events: BudgetEvents, server: Server, database_url: str
) -> None:
    world = await make_world(partners)
    budget_id = uuid.UUID(world.budget_id)
    # Each of the server's workers listens too, on a connection of its own (once started:
    # /readyz answered from one of them, and a hub connects in the background).
    workers = os.cpu_count() or 1  # serve's default
    async with asyncio.timeout(WAIT_SECONDS):
        while len(await listeners(database_url) - {budget_events.backend_pid}) < workers:
            await asyncio.sleep(0.1)
    assert server.workers() == workers
    await drained(budget_events, partners.app.state.sessionmaker)
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=30) as http:
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(world.council.client_id, world.council.client_secret),
        )
        assert token.status_code == 200, token.text
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        async with budget_events.subscribe(budget_id) as signals:
            spent = await http.post(
                f"/v1/budgets/{budget_id}/spends", json=spend_body(1_234), headers=headers
            )
            assert spent.status_code == 201, spent.text
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=False)
    budget = (await world.council.get(world.budget_path())).json()  # read here, made there
    assert budget["totals"]["spent"] == 1_234
    server.stop()  # gracefully: each worker's hub closes its connection on the way out
    async with asyncio.timeout(WAIT_SECONDS):
        while await listeners(database_url) != {budget_events.backend_pid}:
            await asyncio.sleep(0.1)
    assert "budget events" not in server.log_tail(200)  # no error or warning on the way
