"""Delivery over real HTTP: the worker (service.jobs.worker) sends the outbox to a receiver.

Each test runs the worker's loop for real on its own database, and a partner's receiver
(bench/receiver.py) that verifies signatures with `standardwebhooks`. The test settings
compress the retry schedule (an hour of backoff into a couple of seconds).
"""

import asyncio
import time
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from bench.receiver import Receiver, receiving
from service.config import Settings
from service.jobs.worker import run_worker
from tests.partners import Partner, PartnerFactory
from tests.world import PERIOD, World, allocate, created, make_world, spend_body

pytestmark = pytest.mark.usefixtures("worker")

ENDPOINTS = "/v1/webhook-endpoints"


async def _subscribe(partner: Partner, receiver: Receiver, **body: Any) -> str:
    made = await created(await partner.post(ENDPOINTS, {"url": receiver.url, **body}))
    receiver.secret = made["secret"]
    return str(made["id"])


async def _outbox_order(app: FastAPI, endpoint_id: str, budget_id: str) -> list[str]:
    """The webhook-ids of an endpoint's messages of one budget, in the outbox's order."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT event_id FROM webhook_message"
                " WHERE endpoint_id = :e AND budget_id = :b ORDER BY seq"
            ),
            {"e": endpoint_id, "b": budget_id},
        )
        return [str(event_id) for (event_id,) in rows]


async def _log(partner: Partner, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's whole delivery log, newest first, page by page."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        page = (await partner.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", params=params)).json()
        entries += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def test_each_event_arrives_signed_with_its_type_timestamp_and_data(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    async with receiving() as receiver:
        endpoint = await _subscribe(world.council, receiver)
        spend = await created(await world.council.post(world.budget_path("/spends"), spend_body(9)))
        await receiver.until(lambda: len(receiver.accepted) == 1)
    (message,) = receiver.accepted.values()
    assert message["type"] == "spend.posted" and message["data"]["spend_id"] == spend["id"]
    assert message["timestamp"].endswith("Z")
    headers = receiver.headers[0]
    assert headers["webhook-id"] == next(iter(receiver.accepted))
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["content-type"] == "application/json" and receiver.bad_signatures == 0
    (entry,) = await _log(world.council, endpoint)
    assert entry["event_id"] == headers["webhook-id"] and entry["event_type"] == "spend.posted"
    assert (entry["status_code"], entry["delivered"], entry["error"]) == (204, True, None)
    assert entry["attempt"] == 1 and entry["budget_id"] == world.budget_id


async def test_an_endpoint_failing_for_an_hour_still_gets_every_event_in_order(
    partners: PartnerFactory, app: FastAPI, settings: Settings
) -> None:
    """An hour of failure, compressed: 2.5 s at a schedule whose steps cap at 0.4 s."""
    world = await make_world(partners)
    async with receiving() as receiver:
        endpoint = await _subscribe(world.council, receiver)
        down_until = time.monotonic() + 2.5
        receiver.answer = lambda message: 503 if time.monotonic() < down_until else 200
        spends = world.budget_path("/spends")
        for amount in range(1, 9):  # events keep coming while it is down
            await created(await world.council.post(spends, spend_body(amount)))
            await asyncio.sleep(0.2)
        await receiver.until(lambda: len(receiver.accepted) == 8)
    expected = await _outbox_order(app, endpoint, world.budget_id)
    assert receiver.budget_order(world.budget_id) == expected
    assert receiver.sent_in_order(expected)
    amounts = [m["data"]["amount"] for m in receiver.of_type("spend.posted")]
    assert amounts == list(range(1, 9))
    log = await _log(world.council, endpoint)
    failed = [entry for entry in log if not entry["delivered"]]
    assert len(failed) >= 5 and {entry["status_code"] for entry in failed} == {503}
    assert all(entry["error"] == "answered 503" for entry in failed)
    first = [entry for entry in log if entry["event_id"] == expected[0]]
    assert sorted(entry["attempt"] for entry in first) == list(range(1, len(first) + 1))
    assert sum(entry["delivered"] for entry in log) == 8


async def _second_budget(world: World) -> str:
    """Another budget the council leads, with £1,000 of care money."""
    body = {"person_id": world.person_id, "currency": "GBP", "deployment": "managed", **PERIOD}
    budget = await created(await world.council.post("/v1/budgets", body))
    await allocate(world.council, budget["id"], world.care_stream, 100_000)
    return str(budget["id"])


async def test_a_failing_event_holds_back_its_own_budget_only(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    other = await _second_budget(world)
    async with receiving() as receiver:
        await _subscribe(world.council, receiver, events=["spend.posted"])
        stuck = True
        receiver.answer = lambda m: (
            500 if stuck and m["data"]["budget_id"] == world.budget_id else 204
        )
        await created(await world.council.post(world.budget_path("/spends"), spend_body(1)))
        for amount in (2, 3):
            await created(
                await world.council.post(f"/v1/budgets/{other}/spends", spend_body(amount))
            )
        await created(await world.council.post(world.budget_path("/spends"), spend_body(4)))
        await receiver.until(lambda: len(receiver.budget_order(other)) == 2)
        assert receiver.budget_order(world.budget_id) == []  # 1 fails, so 4 waits behind it
        stuck = False
        await receiver.until(lambda: len(receiver.budget_order(world.budget_id)) == 2)
    amounts = [receiver.accepted[i]["data"]["amount"] for i in receiver.order]
    assert amounts == [2, 3, 1, 4]


async def test_410_gone_disables_the_endpoint(partners: PartnerFactory, app: FastAPI) -> None:
    world = await make_world(partners)
    async with receiving() as receiver:
        endpoint = await _subscribe(world.council, receiver)
        receiver.answer = lambda message: 410
        await created(await world.council.post(world.budget_path("/spends"), spend_body(1)))
        path = f"{ENDPOINTS}/{endpoint}"

        async def disabled() -> bool:
            return (await world.council.get(path)).json()["disabled_at"] is not None

        async with asyncio.timeout(30):
            while not await disabled():
                await asyncio.sleep(0.05)
        await created(await world.council.post(world.budget_path("/spends"), spend_body(2)))
        await asyncio.sleep(0.5)
    assert len(receiver.arrivals) == 1  # never retried, and nothing new was written for it
    assert (await world.council.get(path)).json()["disabled_reason"] == (
        "The endpoint answered 410 Gone."
    )
    (entry,) = await _log(world.council, endpoint)
    assert (entry["status_code"], entry["delivered"]) == (410, False)


async def test_redirects_are_not_followed_and_slow_answers_time_out(
    partners: PartnerFactory, app: FastAPI, settings: Settings
) -> None:
    world = await make_world(partners)
    async with receiving() as receiver:
        endpoint = await _subscribe(world.council, receiver)
        receiver.answer = lambda message: 307  # a redirect is an answer, not a place to go
        await created(await world.council.post(world.budget_path("/spends"), spend_body(1)))
        await receiver.until(lambda: len(receiver.arrivals) >= 2)
        receiver.answer, receiver.delay = (lambda message: 204), 3.0
        await receiver.until(lambda: len(receiver.arrivals) >= 3)
        receiver.delay = 0.0
        await receiver.until(lambda: len(receiver.accepted) == 1, seconds=60)
    log = await _log(world.council, endpoint)
    errors = {entry["error"] for entry in log if not entry["delivered"]}
    assert "answered 307" in errors
    assert set(receiver.paths) == {receiver.path}  # the redirect was never followed
    assert f"no answer within {settings.webhook_timeout_seconds:g} s" in errors


async def test_many_spends_at_once_each_arrive_once_and_in_order_per_budget(
    partners: PartnerFactory, app: FastAPI, settings: Settings, database_url: str
) -> None:
    """30 spends at once on one budget and 10 on another, two workers, a flaky receiver."""
    world = await make_world(partners)
    other = await _second_budget(world)
    stop = asyncio.Event()
    second_worker = asyncio.create_task(run_worker(database_url, settings, stop=stop))
    try:
        async with receiving() as receiver:
            endpoint = await _subscribe(world.council, receiver, events=["spend.posted"])
            calls = 0

            def flaky(message: dict[str, Any]) -> int:
                nonlocal calls
                calls += 1
                return 500 if calls % 3 == 0 else 204

            receiver.answer = flaky
            paths = [world.budget_path("/spends")] * 30 + [f"/v1/budgets/{other}/spends"] * 10
            answers = await asyncio.gather(
                *(world.council.post(path, spend_body(n + 1)) for n, path in enumerate(paths))
            )
            assert [a.status_code for a in answers] == [201] * 40
            await receiver.until(lambda: len(receiver.accepted) == 40, seconds=60)
    finally:
        stop.set()
        await asyncio.wait_for(second_worker, 30)
    assert receiver.bad_signatures == 0
    assert receiver.delivered_twice() == []  # two workers never sent one message at once
    for budget_id in (world.budget_id, other):
        expected = await _outbox_order(app, endpoint, budget_id)
        assert receiver.budget_order(budget_id) == expected
        assert receiver.sent_in_order(expected)
    spend_ids = {m["data"]["spend_id"] for m in receiver.accepted.values()}
    assert spend_ids == {a.json()["id"] for a in answers}


async def test_deleting_an_endpoint_stops_its_deliveries(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    async with receiving() as receiver:
        endpoint = await _subscribe(world.council, receiver)
        receiver.answer = lambda message: 503
        await created(await world.council.post(world.budget_path("/spends"), spend_body(1)))
        await receiver.until(lambda: len(receiver.arrivals) >= 2)
        assert (await world.council.delete(f"{ENDPOINTS}/{endpoint}")).status_code == 200
        await asyncio.sleep(0.3)  # an attempt under way when it was deleted may still land
        seen = len(receiver.arrivals)
        await asyncio.sleep(1.0)
    assert len(receiver.arrivals) == seen
    async with app.state.sessionmaker() as session:
        left = await session.scalar(text("SELECT count(*) FROM webhook_message"))
    assert left == 0
