"""budgetUpdated over a real websocket: signed in as REST signs a request, fed by committed changes.

The test's app is served by uvicorn on a real socket, on the test's own database (changes
are announced only on a real commit) with a hub listening there (the `budget_events`
fixture); the tests talk graphql-transport-ws to it with the websockets library.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import select

import schema.live
import schema.loaders
from schema.live import EXPIRED
from service.auth.models import OAuthClient
from service.auth.service import revoke_client
from service.auth.tokens import issue_access_token
from service.database import driver_dsn
from service.events.hub import BudgetEvents
from tests.graphql.client import as_partner
from tests.graphql.documents import BUDGET_UPDATED, RECORD_SPEND, spend_input
from tests.graphql.subscriber import (
    Served,
    closed,
    next_data,
    opened,
    received,
    send,
    served,
    signed_in,
    subscribe,
)
from tests.live import WAIT_SECONDS, until_listening
from tests.partners import Partner, PartnerFactory
from tests.world import World, created, make_world, spend_body


@pytest.fixture
async def live(app: FastAPI, budget_events: BudgetEvents) -> AsyncIterator[Served]:
    """The test's app on a real socket, its hub listening on the test's database."""
    async with served(app) as server:
        yield server


@pytest.fixture
def url(live: Served) -> str:
    """The ws:// URL of /graphql."""
    return live.url


@pytest.fixture
async def world(partners: PartnerFactory, database_url: str) -> World:
    """A budget on the test's own database."""
    return await make_world(partners)


async def _spend(world: World, amount: int) -> None:
    """A spend through REST, committed."""
    await created(await world.council.post(world.budget_path("/spends"), spend_body(amount)))


async def _token(app: FastAPI, partner: Partner, *, lifetime: int, now: int | None = None) -> str:
    """A token of the partner's client, living `lifetime` seconds from `now`."""
    async with app.state.sessionmaker() as session:
        row = await session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == partner.client_id)
        )
    assert row is not None
    settings = app.state.settings
    return issue_access_token(
        key=app.state.signing_key,
        issuer=settings.token_issuer,
        audience=settings.audience,
        client=row,
        scope=row.scope,
        lifetime_seconds=lifetime,
        now=now,
    )


# --- what arrives when --------------------------------------------------------------------------


async def test_the_budget_arrives_now_then_after_each_change_through_either_api(
    url: str, world: World
) -> None:
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})

        now = (await next_data(websocket))["budgetUpdated"]
        assert (now["id"], now["totals"]["spent"], now["spends"]["edges"]) == (
            world.budget_id,
            0,
            [],
        )
        await _spend(world, 1_000)  # REST
        after_rest = (await next_data(websocket))["budgetUpdated"]
        assert after_rest["totals"]["spent"] == 1_000
        assert [e["node"]["amount"] for e in after_rest["spends"]["edges"]] == [1_000]
        spent = await as_partner(
            world.council,
            RECORD_SPEND,
            key=uuid.uuid4().hex,
            input=spend_input(world.budget_id, 2_500),
        )
        assert spent.data["recordSpend"]["__typename"] == "Spend"  # GraphQL
        after_graphql = (await next_data(websocket))["budgetUpdated"]
        assert after_graphql["totals"]["spent"] == 3_500


async def test_a_change_between_subscribing_and_the_first_read_is_not_missed(
    url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spend commits just after the first update was read, before it is sent: had the
    # subscription been made after that read, its announcement would reach nobody.
    read = schema.loaders.Loaders._budgets
    reads: list[int] = []

    async def then_a_spend(self: schema.loaders.Loaders, keys: list[uuid.UUID]) -> Any:
        found = await read(self, keys)
        reads.append(1)
        if len(reads) == 2:  # the reach check, then the first update's read
            await _spend(world, 700)
        return found

    monkeypatch.setattr(schema.loaders.Loaders, "_budgets", then_a_spend)
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})

        assert (await next_data(websocket))["budgetUpdated"]["totals"]["spent"] == 0
        assert (await next_data(websocket))["budgetUpdated"]["totals"]["spent"] == 700


async def test_a_lost_listener_makes_the_subscriber_read_again(
    url: str, world: World, budget_events: BudgetEvents, database_url: str
) -> None:
    # While the hub could not listen, changes may have gone unannounced: a gap is a change.
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        assert (await next_data(websocket))["budgetUpdated"]["totals"]["spent"] == 0
        killed = await until_listening(budget_events)
        database = await asyncpg.connect(driver_dsn(database_url))
        try:
            assert await database.fetchval("SELECT pg_terminate_backend($1)", killed)
        finally:
            await database.close()

        again = (await next_data(websocket))["budgetUpdated"]
        assert (again["id"], again["totals"]["spent"]) == (world.budget_id, 0)
        await until_listening(budget_events, other_than=killed)


async def test_each_operation_of_a_connection_reads_in_its_own_context(
    url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two subscriptions to one budget on one socket. The first one's first update waits for
    # its spends while the second subscribes, reads, sends and ends its read: sharing one
    # context, the first would then find its session gone.
    read = schema.loaders.Loaders._spend_pages
    waiting, go_on = asyncio.Event(), asyncio.Event()

    async def held_the_first_time(self: schema.loaders.Loaders, keys: list[Any]) -> Any:
        if not waiting.is_set():
            waiting.set()
            await go_on.wait()
        return await read(self, keys)

    monkeypatch.setattr(schema.loaders.Loaders, "_spend_pages", held_the_first_time)
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation="held")
        await asyncio.wait_for(waiting.wait(), WAIT_SECONDS)
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation="quick")
        assert (await next_data(websocket, operation="quick"))["budgetUpdated"]["spends"]

        go_on.set()

        held = await next_data(websocket, operation="held")
        assert held["budgetUpdated"]["spends"] == {"edges": []}


async def test_a_waiting_subscription_holds_no_transaction(
    url: str, world: World, database_url: str
) -> None:
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await next_data(websocket)
        await _spend(world, 100)
        await next_data(websocket)

        database = await asyncpg.connect(driver_dsn(database_url))
        try:
            # The last read's session may still be closing as its update arrives.
            for _ in range(20):
                open_transactions = await database.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                )
                if open_transactions == 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            await database.close()

    assert open_transactions == 0


# The budget (read for the check, then for the first update), or a field (the first update's).
@pytest.mark.parametrize(("read", "working_calls"), [("_budgets", 2), ("_spend_pages", 1)])
async def test_a_failure_on_our_side_ends_the_subscription_with_its_code(
    url: str,
    world: World,
    read: str,
    working_calls: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    working = getattr(schema.loaders.Loaders, read)
    calls: list[int] = []

    async def broken_once_it_was_read(self: schema.loaders.Loaders, keys: list[Any]) -> Any:
        calls.append(1)
        if len(calls) > working_calls:
            raise RuntimeError("a bug, with personal data")
        return await working(self, keys)

    monkeypatch.setattr(schema.loaders.Loaders, read, broken_once_it_was_read)
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await next_data(websocket)
        with caplog.at_level(logging.ERROR):
            await _spend(world, 100)

            failed = await received(websocket)

        assert failed["type"] == "next", failed
        codes = {e["extensions"]["code"] for e in failed["payload"]["errors"]}
        assert codes == {"INTERNAL_SERVER_ERROR"}
        assert "personal data" not in json.dumps(failed)
        if read == "_budgets":
            assert await received(websocket) == {"id": "1", "type": "complete"}
    assert any(record.getMessage() == "subscription failed" for record in caplog.records)


# --- who may subscribe --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, "Send an access token: Authorization: Bearer <token>"),
        ({"Authorization": "Bearer not-a-token"}, "The access token was refused:"),
        ({"Authorization": 42}, "Send an access token"),
        ({"token": "elsewhere"}, "Send an access token"),
    ],
)
async def test_a_missing_or_bad_token_closes_the_connection_with_4403(
    url: str, world: World, payload: dict[str, Any], reason: str
) -> None:
    async with opened(url) as websocket:
        await send(websocket, type="connection_init", payload=payload)

        code, said = await closed(websocket)

    assert code == 4403
    assert said is not None and said.startswith(reason), said


async def test_an_expired_token_or_a_revoked_client_closes_the_connection_with_4403(
    url: str, world: World, app: FastAPI
) -> None:
    expired = await _token(app, world.council, lifetime=60, now=int(time.time()) - 120)
    async with opened(url) as websocket:
        await send(
            websocket, type="connection_init", payload={"Authorization": f"Bearer {expired}"}
        )
        code, said = await closed(websocket)
    assert code == 4403 and said is not None and "expired" in said, said

    async with app.state.sessionmaker() as session, session.begin():
        await revoke_client(session, world.housing.client_id)
    async with opened(url) as websocket:
        await send(
            websocket,
            type="connection_init",
            payload={"authorization": world.housing.headers["Authorization"]},
        )
        code, said = await closed(websocket)
    assert code == 4403 and said is not None and "revoked" in said, said


async def test_subscribing_before_signing_in_closes_the_connection_with_4401(
    url: str, world: World
) -> None:
    async with opened(url) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})

        assert await closed(websocket) == (4401, "Unauthorized")


async def test_the_connection_closes_when_its_token_expires(
    url: str, world: World, app: FastAPI
) -> None:
    token = await _token(app, world.council, lifetime=2)
    async with signed_in(url, token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        assert (await next_data(websocket))["budgetUpdated"]["id"] == world.budget_id

        assert await closed(websocket) == (4403, EXPIRED)


async def test_a_budget_outside_reach_is_not_found_exactly_as_in_a_query(
    url: str, world: World, partners: PartnerFactory
) -> None:
    outsider = await partners(kind="health", name="Elsewhere ICB")
    for budget_id in (world.budget_id, str(uuid.uuid4()), "not-a-uuid"):
        query = await as_partner(
            outsider, "query($id: ID!) { budget(id: $id) { id } }", id=budget_id
        )
        async with signed_in(url, outsider.token) as websocket:
            await subscribe(websocket, BUDGET_UPDATED, {"id": budget_id})

            message = await received(websocket)

        assert message["type"] == "error", message  # the operation ends: nothing arrives
        [error] = message["payload"]
        [asked] = query.errors
        assert (
            error["extensions"] == asked["extensions"] == {"code": "NOT_FOUND", "type": "not-found"}
        )
        assert error["message"] == asked["message"]
        assert error["path"] == ["budgetUpdated"]


async def test_without_budgets_read_the_subscription_is_forbidden(
    url: str, world: World, partners: PartnerFactory
) -> None:
    narrowed = await partners.narrowed(world.council, scope="spends:read")
    async with signed_in(url, narrowed.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})

        message = await received(websocket)

    assert message["type"] == "error", message
    [error] = message["payload"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["requiredScope"] == "budgets:read"


async def test_a_revoked_client_s_subscription_ends_at_its_next_update(
    url: str, world: World, app: FastAPI
) -> None:
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await next_data(websocket)
        async with app.state.sessionmaker() as session, session.begin():
            await revoke_client(session, world.council.client_id)
        await created(
            await world.housing.post(
                world.budget_path("/allocations"),
                {"stream_id": world.dfg_stream, "amount": 1_000, "status": "confirmed"},
            )
        )

        refused = await received(websocket)
        assert refused["type"] == "next", refused
        [error] = refused["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "revoked" in error["message"]
        assert await received(websocket) == {"id": "1", "type": "complete"}


# --- what the websocket serves ------------------------------------------------------------------


async def test_only_subscriptions_over_the_websocket_and_subscriptions_only_there(
    url: str, world: World
) -> None:
    over_http = await as_partner(world.council, BUDGET_UPDATED, id=world.budget_id)
    assert over_http.codes == ["BAD_REQUEST"]
    assert "websocket" in over_http.errors[0]["message"]
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, "{ viewer { clientId } }")

        message = await received(websocket)

        assert message["type"] == "error", message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "POST /graphql" in error["message"]


async def test_the_limits_apply_to_subscriptions_and_the_socket_stays_open(
    url: str, world: World
) -> None:
    deep = "spends(first: 1) { edges { node { budget { " * 3 + "id" + " } } } }" * 3
    too_deep = f"subscription($id: ID!) {{ budgetUpdated(budgetId: $id) {{ {deep} }} }}"
    too_long = "# a comment is a token too\n" * 2000 + BUDGET_UPDATED
    async with signed_in(url, world.council.token) as websocket:
        for number, (document, code) in enumerate(
            [(too_deep, "QUERY_TOO_DEEP"), (too_long, "TOO_MANY_TOKENS")]
        ):
            await subscribe(websocket, document, {"id": world.budget_id}, operation=str(number))

            message = await received(websocket)

            assert message["type"] == "error", message
            assert [e["extensions"]["code"] for e in message["payload"]] == [code]
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation="2")
        assert (await next_data(websocket, operation="2"))["budgetUpdated"]["id"] == world.budget_id


async def test_a_socket_runs_a_bounded_number_of_operations(
    url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema.live, "MAX_OPERATIONS", 2)
    async with signed_in(url, world.council.token) as websocket:
        for operation in ("1", "2", "3"):
            await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation=operation)
        messages = [await received(websocket) for _ in range(3)]
        [refused] = [m for m in messages if m["type"] == "error"]
        assert refused["id"] == "3"
        [error] = refused["payload"]
        assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "maxSubscriptions": 2}
        await send(websocket, id="1", type="complete")
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation="3")
        assert (await next_data(websocket, operation="3"))["budgetUpdated"]["id"]


# --- stopping -----------------------------------------------------------------------------------


async def test_a_stopping_hub_completes_the_subscriptions(
    url: str, world: World, budget_events: BudgetEvents, app: FastAPI
) -> None:
    async with signed_in(url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await next_data(websocket)
        stopping = BudgetEvents(budget_events._dsn)
        async with stopping.running():
            app.state.budget_events = stopping
            await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id}, operation="2")
            await next_data(websocket, operation="2")
        # The app's shutdown stops its hub: its subscriptions end, and say so.
        assert await received(websocket) == {"id": "2", "type": "complete"}
        app.state.budget_events = budget_events


async def test_stopping_the_server_closes_its_websockets_at_once(
    live: Served, world: World
) -> None:
    async with signed_in(live.url, world.council.token) as websocket:
        await subscribe(websocket, BUDGET_UPDATED, {"id": world.budget_id})
        await next_data(websocket)

        live.server.should_exit = True

        code, _ = await closed(websocket)
        assert code == 1012  # service restart: connect again
        await asyncio.wait_for(live.task, 5)  # no websocket held it up
