"""Stored idempotency answers are purged after the retention period, by one process at a time.

Time moves on the app's clock (tests.clock), never by sleeping; record ages are set in SQL
where a test needs two ages, since a rolled-back test's rows all share one database now().
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.idempotency.models import IdempotencyRecord
from service.idempotency.purge import DELETE_BATCH, PURGE_LOCK, purge_answers
from service.main import create_app, purge_idempotency_once
from tests.clock import MovableClock
from tests.partners import Partner, PartnerFactory
from tests.world import created, make_world, spend_body

RETENTION = timedelta(hours=24)
KEEP_ANSWERS = text(
    "INSERT INTO idempotency_record (client_id, key, request_hash, status_code, body, headers,"
    " created_at) SELECT oauth_client.id, :prefix || n, 'hash', 201, '{}', '{}', :written_at"
    " FROM oauth_client, generate_series(1, :count) AS n WHERE oauth_client.client_id = :client"
)


async def _keep_answers(
    app: FastAPI, partner: Partner, prefix: str, count: int, written_at: datetime
) -> None:
    """Store `count` answers of the partner's client, keys prefix1..prefixN, written then."""
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            KEEP_ANSWERS,
            {
                "prefix": prefix,
                "count": count,
                "written_at": written_at,
                "client": partner.client_id,
            },
        )


async def _kept_keys(app: FastAPI) -> set[str]:
    """The keys whose answers are stored."""
    async with app.state.sessionmaker() as session:
        return set((await session.scalars(select(IdempotencyRecord.key))).all())


async def _database_now(app: FastAPI) -> datetime:
    """The database's now(), which stamps each answer's created_at."""
    async with app.state.sessionmaker() as session:
        now: datetime = await session.scalar(select(func.now()))
        return now


async def test_answers_older_than_the_retention_are_purged_and_younger_ones_kept(
    partners: PartnerFactory, clock: MovableClock
) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "old-", 3, written - timedelta(hours=2))
    await _keep_answers(partners.app, partner, "young-", 2, written)
    clock.now = written + RETENTION  # the young ones are exactly at the retention: kept
    assert await purge_idempotency_once(partners.app) == 3
    assert await _kept_keys(partners.app) == {"young-1", "young-2"}
    assert await purge_idempotency_once(partners.app) == 0
    clock.advance(timedelta(microseconds=1))
    assert await purge_idempotency_once(partners.app) == 2
    assert await _kept_keys(partners.app) == set()


async def test_the_retention_is_a_setting(partners: PartnerFactory, clock: MovableClock) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "k", 1, written)
    settings: Settings = partners.app.state.settings
    partners.app.state.settings = settings.model_copy(update={"idempotency_retention_hours": 48})
    try:
        clock.now = written + timedelta(hours=47)
        assert await purge_idempotency_once(partners.app) == 0
        clock.now = written + timedelta(hours=49)
        assert await purge_idempotency_once(partners.app) == 1
    finally:
        partners.app.state.settings = settings


async def test_a_purge_in_small_batches_takes_every_expired_answer(
    partners: PartnerFactory,
) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "k", 7, written)
    cutoff = written + timedelta(seconds=1)
    assert (
        await purge_answers(partners.app.state.sessionmaker, written_before=cutoff, batch_size=3)
        == 7
    )
    assert await _kept_keys(partners.app) == set()


async def test_a_purged_key_is_a_new_key(partners: PartnerFactory, clock: MovableClock) -> None:
    world = await make_world(partners)
    path = world.budget_path("/spends")
    first = await created(await world.council.post(path, spend_body(1_000), key="reused"))
    replay = await world.council.post(path, spend_body(1_000), key="reused")
    assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == first["id"]
    clock.now = await _database_now(partners.app) + RETENTION + timedelta(seconds=1)
    assert await purge_idempotency_once(partners.app)
    again = await world.council.post(path, spend_body(1_000), key="reused")
    second = await created(again)
    assert "idempotent-replayed" not in again.headers
    assert second["id"] != first["id"]
    assert await _spent(world.council, world.budget_path()) == 2_000  # both paid, as asked
    # Purged again, the key is free for another request altogether.
    assert await purge_idempotency_once(partners.app)
    third = await created(await world.council.post(path, spend_body(500), key="reused"))
    assert third["id"] not in {first["id"], second["id"]}
    assert await _spent(world.council, world.budget_path()) == 2_500


async def _spent(partner: Partner, budget_path: str) -> int:
    spent: int = (await partner.get(budget_path)).json()["totals"]["spent"]
    return spent


@pytest.fixture
async def other_connection(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of another process's pool to the test's own database."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def test_a_round_is_skipped_while_another_process_purges(
    partners: PartnerFactory, clock: MovableClock, other_connection: AsyncConnection
) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "k", 3, written)
    clock.now = written + RETENTION + timedelta(seconds=1)
    async with other_connection.begin():
        held = select(func.pg_try_advisory_xact_lock(*PURGE_LOCK))
        assert await other_connection.scalar(held)
        assert await purge_idempotency_once(partners.app) is None
        assert len(await _kept_keys(partners.app)) == 3
    assert await purge_idempotency_once(partners.app) == 3  # the lock is free again


async def test_two_processes_purging_at_once_each_delete_their_own_share(
    partners: PartnerFactory, database_url: str
) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "old-", 60, written - timedelta(hours=1))
    await _keep_answers(partners.app, partner, "young-", 5, written)
    engines = [make_engine(database_url, pool_size=1) for _ in range(2)]
    try:
        rounds = await asyncio.gather(
            *(
                purge_answers(make_sessionmaker(engine), written_before=written, batch_size=4)
                for engine in engines
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(purged or 0 for purged in rounds) == 60, rounds
    assert await _kept_keys(partners.app) == {f"young-{n}" for n in range(1, 6)}


async def test_a_request_during_an_uncommitted_purge_replays_and_after_it_is_new(
    partners: PartnerFactory, other_connection: AsyncConnection
) -> None:
    world = await make_world(partners)
    path = world.budget_path("/spends")
    first = await created(await world.council.post(path, spend_body(100), key="k"))
    far_ahead = await _database_now(partners.app) + RETENTION
    async with other_connection.begin():  # another process, mid-batch
        await other_connection.execute(DELETE_BATCH, {"cutoff": far_ahead, "batch_size": 10})
        # Not blocked by the delete (a bounded wait: blocked, it would wait for this very test).
        during = await asyncio.wait_for(
            world.council.post(path, spend_body(100), key="k"), timeout=10
        )
        assert during.headers["idempotent-replayed"] == "true"
        assert during.json()["id"] == first["id"]
        refused = await world.council.post(path, spend_body(200), key="k")
        assert refused.status_code == 422
    after = await created(await world.council.post(path, spend_body(200), key="k"))
    assert after["id"] != first["id"]
    assert await _spent(world.council, world.budget_path()) == 300


async def test_purges_racing_requests_that_reuse_their_keys_break_neither(
    partners: PartnerFactory, database_url: str, clock: MovableClock
) -> None:
    world = await make_world(partners)
    path = world.budget_path("/spends")
    clock.now = await _database_now(partners.app) + 2 * RETENTION  # every answer has expired
    paid, outcomes = 0, []
    for round_number in range(8):
        key = f"key-{round_number}"
        await created(await world.council.post(path, spend_body(100), key=key))
        paid += 100
        # Other expired answers ahead of it, so the purge takes a while and the retry lands
        # before, during or after the delete of its answer.
        written = await _database_now(partners.app)
        await _keep_answers(partners.app, world.council, f"filler-{key}-", 500, written)
        _, answer = await asyncio.gather(
            purge_idempotency_once(partners.app), world.council.post(path, spend_body(100), key=key)
        )
        assert answer.status_code == 201, answer.text
        replayed = answer.headers.get("idempotent-replayed") == "true"
        paid += 0 if replayed else 100
        outcomes.append(replayed)
    assert await _spent(world.council, world.budget_path()) == paid, outcomes


async def test_every_worker_purges_on_a_timer_from_its_lifespan(
    settings: Settings, database_url: str, partners: PartnerFactory
) -> None:
    partner = await partners(kind="council")
    written = await _database_now(partners.app)
    await _keep_answers(partners.app, partner, "k", 2, written)
    quick = settings.model_copy(update={"idempotency_purge_seconds": 0.05})
    worker = create_app(quick, database_url=database_url, migrate=False)
    worker.state.clock = MovableClock(written + RETENTION + timedelta(seconds=1))
    async with LifespanManager(worker):
        for _ in range(100):
            if not await _kept_keys(partners.app):
                break
            await asyncio.sleep(0.05)
    assert await _kept_keys(partners.app) == set()
