"""Many requests at once on one budget: never overdrawn, always balanced, never deadlocked."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from tests.partners import PartnerFactory
from tests.world import commitment_body, make_world, spend_body


async def _ledger_balances(app: object) -> tuple[int, int, int, int]:
    """Total debits and credits, posted and pending, over every account."""
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = (
            await session.execute(
                text(
                    "SELECT sum(debits_posted), sum(credits_posted),"
                    " sum(debits_pending), sum(credits_pending) FROM account"
                )
            )
        ).one()
    return tuple(int(v) for v in row)  # type: ignore[return-value]


# Requests in flight at once need separate connections and transactions.
@pytest.mark.own_database
class TestConcurrentSpends:
    async def test_fifty_spends_at_once_never_overdraw_the_pot(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=100_000, dfg_amount=100_000)
        app = partners.app

        async def spend(n: int) -> int:
            response = await world.council.post(world.budget_path("/spends"), spend_body(3_000 + n))
            return response.status_code

        statuses = await asyncio.wait_for(asyncio.gather(*(spend(n) for n in range(60))), 60)
        accepted = [3_000 + n for n, status in enumerate(statuses) if status == 201]
        assert set(statuses) <= {201, 422}
        assert 0 < len(accepted) < 60
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == sum(accepted) <= 100_000
        care = next(s for s in budget["streams"] if s["stream_id"] == world.care_stream)
        refused = [3_000 + n for n, status in enumerate(statuses) if status == 422]
        assert 0 <= care["available"] < min(refused)  # filled until it could not, in any order
        debits_posted, credits_posted, debits_pending, credits_pending = await _ledger_balances(app)
        assert debits_posted == credits_posted and debits_pending == credits_pending

    async def test_concurrent_retries_of_one_key_move_money_once(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        key = uuid.uuid4().hex

        async def retry() -> tuple[int, str]:
            response = await world.council.post(
                world.budget_path("/spends"), spend_body(777), key=key
            )
            return response.status_code, response.text

        results = await asyncio.gather(*(retry() for _ in range(30)))
        statuses = [status for status, _ in results]
        assert set(statuses) <= {201, 409}
        assert 201 in statuses
        bodies = {body for status, body in results if status == 201}
        assert len(bodies) == 1  # every success is the same spend, replayed
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 777

    async def test_mixed_spends_reversals_and_commitments_keep_the_books_balanced(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=200_000)
        first = [
            (await world.council.post(world.budget_path("/spends"), spend_body(1_000))).json()["id"]
            for _ in range(10)
        ]
        commitment = commitment_body(5_000)
        work = [world.council.post(f"/v1/spends/{spend}/reverse") for spend in first]
        work += [
            world.council.post(world.budget_path("/spends"), spend_body(2_000)) for _ in range(10)
        ]
        work += [
            world.council.post(world.budget_path("/commitments"), commitment) for _ in range(10)
        ]
        responses = await asyncio.gather(*work)
        assert all(r.status_code == 201 for r in responses), [
            r.text for r in responses if r.status_code != 201
        ]
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert totals["spent"] == 20_000 and totals["pending"] == 50_000
        assert totals["allocated"] == totals["available"] + totals["pending"] + totals["spent"]
        debits_posted, credits_posted, debits_pending, credits_pending = await _ledger_balances(
            partners.app
        )
        assert debits_posted == credits_posted and debits_pending == credits_pending
