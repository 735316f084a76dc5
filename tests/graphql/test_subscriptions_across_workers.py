"""budgetUpdated across worker processes: every spend, through either worker, reaches a subscriber.

A real `onebudget serve --workers 2` runs on the test's own database. A subscriber's websocket
lands on one worker; spends are made through REST on new connections, which the kernel hands
to either worker; the test asks the operating system which worker holds each connection, and
goes on until both have served spends. The spends go a few at once: one at a time, an idle
machine can wake the same worker for every new connection (seen in CI: 30 in a row).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench.server import Server
from tests.graphql.documents import BUDGET_UPDATED
from tests.graphql.subscriber import closed, next_data, signed_in, subscribe
from tests.live import WAIT_SECONDS, listeners, serving, worker_serving
from tests.partners import PartnerFactory
from tests.world import World, make_world, spend_body

WORKERS = 2
MOST_SPENDS = 60  # new connections until both workers served one; the kernel picks each time
AT_ONCE = 4  # connections opened together, so both workers race to accept them
QUIET_SECONDS = 1.0  # no update for this long: the subscriber has shown every spend


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[Server]:
    """`onebudget serve --workers 2` on the test's database, every worker's hub listening."""
    async with serving(database_url, workers=WORKERS) as served:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(await listeners(database_url)) < WORKERS:
                await asyncio.sleep(0.1)
        yield served


async def _token(server: Server, world: World) -> str:
    """A token of the council's client from the server's own token endpoint (its own key)."""
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(world.council.client_id, world.council.client_secret),
        )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def _spend_on_a_new_connection(server: Server, token: str, budget_id: str) -> int:
    """Spend 100 through REST on a connection of its own; the worker that served it."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=30) as http:
        spent = await http.post(
            f"/v1/budgets/{budget_id}/spends", json=spend_body(100), headers=headers
        )
        assert spent.status_code == 201, spent.text
        _, port = spent.extensions["network_stream"].get_extra_info("client_addr")
        return worker_serving(server, port)  # the connection is still open


async def _until_spent(websocket: Any, amount: int) -> None:
    """Updates until one shows `amount` spent (a lost listener may send the same state again)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while (await next_data(websocket))["budgetUpdated"]["totals"]["spent"] != amount:
            pass


async def _then_quiet(websocket: Any, amount: int) -> None:
    """Any updates still on their way (spends made at once may each wake the subscriber after
    the last was shown) show `amount` spent too; then none comes for a while."""
    while True:
        try:
            data = await asyncio.wait_for(next_data(websocket), QUIET_SECONDS)
        except TimeoutError:
            return
        assert data["budgetUpdated"]["totals"]["spent"] == amount, data


async def test_every_spend_through_either_worker_reaches_the_subscriber(
    partners: PartnerFactory, server: Server
) -> None:
    world = await make_world(partners)  # on the test's database, the server's too
    token = await _token(server, world)
    url = server.base_url.replace("http://", "ws://") + "/graphql"
    served_by: list[int] = []
    async with signed_in(url, token) as websocket:
        listening_on = worker_serving(server, websocket.local_address[1])
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await _until_spent(websocket, 0)

        while set(served_by) != set(server.worker_pids()) and len(served_by) < MOST_SPENDS:
            spends = (
                _spend_on_a_new_connection(server, token, world.budget_id) for _ in range(AT_ONCE)
            )
            served_by.extend(await asyncio.gather(*spends))
            await _until_spent(websocket, 100 * len(served_by))

        await _then_quiet(websocket, 100 * len(served_by))
        assert set(served_by) == set(server.worker_pids()), served_by
        assert listening_on in served_by and len(set(served_by)) == WORKERS
        # A graceful stop (SIGTERM) closes the open websocket rather than waiting on it.
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        code, _ = await closed(websocket)
        await stopping
    assert code == 1012
    assert server.process.returncode == 0, server.log_tail()
    assert "Traceback" not in server.log_tail(500)
