"""Commitments and approvals at their edges: each refusal names its problem and moves nothing.

Time is the app's clock (tests.clock), moved by hand: no sleeping, and no reliance on the
test's clock agreeing with the database's.
"""

from datetime import timedelta
from typing import Any

import httpx

from service.main import sweep_commitments_once
from tests.clock import MovableClock
from tests.partners import PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body

SOON = timedelta(hours=1)


async def _state(world: World, *paths: str) -> list[Any]:
    """The budget (totals and every stream) and each object at `paths`, as the lead reads them."""
    return [(await world.council.get(p)).json() for p in (world.budget_path(), *paths)]


def _refused(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The problem of a refusal, checked for its status and type."""
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"https://onebudget.example/problems/{slug}", problem
    return problem


async def _commit(world: World, clock: MovableClock, amount: int, category: str = "respite") -> str:
    """A new commitment expiring an hour from the app's now; its path."""
    body = commitment_body(amount, category, expires_at=(clock.now + SOON).isoformat())
    commitment = await created(await world.council.post(world.budget_path("/commitments"), body))
    return f"/v1/commitments/{commitment['id']}"


class TestExpiry:
    async def test_an_expiry_not_after_now_is_refused_and_nothing_is_held(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners)
        before = await _state(world)
        for expires in (clock.now - timedelta(seconds=1), clock.now):
            body = commitment_body(1_000, expires_at=expires.isoformat())
            response = await world.council.post(world.budget_path("/commitments"), body)
            assert "must be in the future" in _refused(response, 422, "expiry-in-past")["detail"]
        assert await _state(world) == before
        listed = await world.council.get(world.budget_path("/commitments"))
        assert listed.json()["items"] == []
        await _commit(world, clock, 1_000)  # a moment later is fine

    async def test_an_expired_commitment_not_yet_swept_cannot_be_paid_or_voided(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners)
        path = await _commit(world, clock, 40_000)
        clock.advance(SOON)
        before = await _state(world, path)
        for action in ("post", "void"):
            problem = _refused(await world.council.post(f"{path}/{action}"), 409, "wrong-state")
            assert "expired" in problem["detail"]
        assert await _state(world, path) == before  # still held, until the sweep
        assert before[1]["status"] == "pending" and before[0]["totals"]["pending"] == 40_000
        assert await sweep_commitments_once(partners.app) == 1
        budget, commitment = await _state(world, path)
        assert commitment["status"] == "expired" and budget["totals"]["pending"] == 0


class TestPosting:
    async def test_posting_more_than_is_held_is_refused_with_the_held_amount(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners)
        path = await _commit(world, clock, 40_000)
        before = await _state(world, path)
        problem = _refused(
            await world.council.post(f"{path}/post", {"amount": 40_001}), 422, "over-posting"
        )
        assert problem["held_amount"] == 40_000
        assert await _state(world, path) == before
        paid = await world.council.post(f"{path}/post", {"amount": 40_000})
        assert paid.status_code == 200 and paid.json()["posted_amount"] == 40_000

    async def test_a_commitment_awaiting_approval_cannot_be_posted(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners, care_amount=1, dfg_threshold=100_000)
        path = await _commit(world, clock, 150_000, "housing_adaptation")
        before = await _state(world, path)
        assert before[1]["status"] == "pending_approval"
        problem = _refused(await world.council.post(f"{path}/post"), 409, "wrong-state")
        assert "approval" in problem["detail"]
        assert await _state(world, path) == before

    async def test_voiding_twice_is_refused_the_second_time(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners)
        path = await _commit(world, clock, 40_000)
        assert (await world.council.post(f"{path}/void")).json()["status"] == "voided"
        before = await _state(world, path)
        problem = _refused(await world.council.post(f"{path}/void"), 409, "wrong-state")
        assert "voided" in problem["detail"]
        assert await _state(world, path) == before


class TestDecisionsOnlyWhileWaiting:
    async def test_a_spend_paid_without_approval_cannot_be_approved_or_rejected(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        body = spend_body(50_000, "housing_adaptation")
        spend = await created(await world.council.post(world.budget_path("/spends"), body))
        path = f"/v1/spends/{spend['id']}"
        before = await _state(world, path)
        assert before[1]["status"] == "posted"
        for action in ("approve", "reject"):
            _refused(await world.housing.post(f"{path}/{action}"), 409, "wrong-state")
        assert await _state(world, path) == before

    async def test_a_decided_spend_cannot_be_decided_again(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        body = spend_body(150_000, "housing_adaptation")
        spend = await created(await world.council.post(world.budget_path("/spends"), body))
        path = f"/v1/spends/{spend['id']}"
        assert (await world.housing.post(f"{path}/approve")).json()["status"] == "posted"
        before = await _state(world, path)
        for action in ("approve", "reject"):
            problem = _refused(await world.housing.post(f"{path}/{action}"), 409, "wrong-state")
            assert "posted" in problem["detail"]
        assert await _state(world, path) == before

    async def test_a_held_commitment_not_awaiting_approval_cannot_be_decided(
        self, partners: PartnerFactory, clock: MovableClock
    ) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        path = await _commit(world, clock, 40_000)
        before = await _state(world, path)
        for action in ("approve", "reject"):
            _refused(await world.housing.post(f"{path}/{action}"), 409, "wrong-state")
        assert await _state(world, path) == before
