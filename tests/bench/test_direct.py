"""bench/direct.py, the spend path without HTTP that `python -m bench` sets beside the service:
its spends are real spends, each answered as the endpoint answers, and it counts them all."""

import uuid

from sqlalchemy import text

from bench.direct import caller_of, spend_without_http
from service.database import make_engine
from tests.partners import PartnerFactory
from tests.world import make_world


async def test_every_spend_it_counts_is_in_the_ledger_once_with_its_kept_answer(
    partners: PartnerFactory, database_url: str
) -> None:
    world = await make_world(partners)
    caller = await caller_of(database_url, world.council.client_id)
    assert caller.agency_id == world.council.agency_id
    counted = await spend_without_http(
        database_url,
        caller,
        [uuid.UUID(world.budget_id)],
        connections=3,
        seconds=0.4,
        warmup=0.1,
    )
    assert 0 < counted["spends"] <= counted["committed"]
    assert 0 < counted["p50_ms"] <= counted["p99_ms"]
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            spends, answers, unbalanced = (
                await connection.execute(
                    text(
                        "SELECT (SELECT count(*) FROM spend),"
                        " (SELECT count(*) FROM idempotency_record WHERE status_code = 201"
                        "  AND body::jsonb ->> 'id' IN (SELECT id::text FROM spend)),"
                        " (SELECT sum(debits_posted) - sum(credits_posted) FROM account)"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    assert spends == answers == counted["committed"]
    assert unbalanced == 0
