"""What a spend costs in round trips to PostgreSQL, counted on the wire (tests/wire.py).

README promises four: BEGIN; claim the key, check the client and lock the pots; write the
spend and keep its answer (and announce the budget's change, service/events, and write its
webhook messages, service/webhooks); COMMIT. Only when a partner's endpoint hears of the
spend does it cost one more: queueing that endpoint's delivery job.
"""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from service.database import make_engine, make_sessionmaker
from tests.partners import PartnerFactory
from tests.wire import WireTap, wire_tap
from tests.world import created, make_world, spend_body


@pytest.fixture
async def tapped(app: FastAPI, database_url: str) -> AsyncIterator[WireTap]:
    """The app's database connections go through a proxy that counts round trips."""
    async with wire_tap(database_url) as tap:
        saved = app.state.engine, app.state.sessionmaker
        app.state.engine = make_engine(tap.url_through, pool_size=1)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        try:
            yield tap
        finally:
            await app.state.engine.dispose()
            app.state.engine, app.state.sessionmaker = saved


async def test_a_spend_costs_four_round_trips_its_announcement_included(
    partners: PartnerFactory, tapped: WireTap
) -> None:
    world = await make_world(partners)
    spends = world.budget_path("/spends")
    # The first spend on the connection prepares its statements; the next ones reuse them.
    await created(await world.council.post(spends, spend_body(100)))
    for amount in (200, 300):
        before = tapped.round_trips
        await created(await world.council.post(spends, spend_body(amount)))
        assert tapped.round_trips - before == 4


async def test_a_spend_a_partner_hears_of_costs_one_more_its_delivery_job(
    partners: PartnerFactory, tapped: WireTap
) -> None:
    world = await make_world(partners)
    spends = world.budget_path("/spends")
    hook = {"url": "http://127.0.0.1:9/hooks", "events": ["budget.low"]}
    await created(await world.council.post("/v1/webhook-endpoints", hook))
    await created(await world.council.post(spends, spend_body(100)))
    before = tapped.round_trips
    await created(await world.council.post(spends, spend_body(200)))
    assert tapped.round_trips - before == 4  # subscribed to other events: nothing written
    hook = {"url": "http://127.0.0.1:9/hooks", "events": ["spend.posted"]}
    await created(await world.council.post("/v1/webhook-endpoints", hook))
    await created(await world.council.post(spends, spend_body(100)))
    for amount in (200, 300):
        before = tapped.round_trips
        await created(await world.council.post(spends, spend_body(amount)))
        assert tapped.round_trips - before == 5
