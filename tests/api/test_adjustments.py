"""POST /v1/allocations/{id}/adjustments: an amended or withdrawn award, never an edit.

A top-up moves money in (within the stream's cap); a take-back moves back only what the pot
has free, and says what it could not take. Who may adjust is tests/api/test_access.py.
"""

import asyncio
from typing import Any

import pytest

from tests.partners import Partner, PartnerFactory
from tests.world import World, allocate, commitment_body, created, make_world, spend_body


async def _adjust(
    partner: Partner, allocation_id: str, amount: int, reason: str = "Award amended"
) -> Any:
    return await partner.post(
        f"/v1/allocations/{allocation_id}/adjustments", {"amount": amount, "reason": reason}
    )


async def _care(world: World) -> dict[str, Any]:
    """The care stream's line of the budget."""
    budget = (await world.council.get(world.budget_path())).json()
    return next(s for s in budget["streams"] if s["stream_id"] == world.care_stream)


async def _transfers(world: World) -> list[dict[str, Any]]:
    return list((await world.council.get(world.budget_path("/transfers"))).json()["items"])


async def _indicative(world: World, amount: int) -> dict[str, Any]:
    body = {"stream_id": world.care_stream, "amount": amount, "status": "indicative"}
    return await created(await world.council.post(world.budget_path("/allocations"), body))


class TestAdjustingAConfirmedAllocation:
    async def test_a_raised_award_tops_the_pot_up_by_a_transfer(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1)
        extra = await allocate(world.council, world.budget_id, world.care_stream, 57_572)
        before = await _care(world)
        answer = await created(await _adjust(world.council, extra["id"], 62_000))
        assert answer["requested_amount"] == answer["applied_amount"] == 4_428
        assert answer["unmet_amount"] == 0 and answer["amount_after"] == 62_000
        after = await _care(world)
        assert after["allocated"] - before["allocated"] == 4_428
        assert after["available"] - before["available"] == 4_428
        moved = [t for t in await _transfers(world) if t["id"] == answer["transfer_id"]]
        assert [(t["code"], t["amount"]) for t in moved] == [("adjustment", 4_428)]

    async def test_what_cannot_be_taken_back_is_reported_and_stays(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1)
        award = await allocate(world.council, world.budget_id, world.care_stream, 120_000)
        await created(await world.council.post(world.budget_path("/spends"), spend_body(40_000)))
        await created(
            await world.council.post(
                world.budget_path("/commitments"), commitment_body(5_000, "personal_care")
            )
        )
        answer = await created(await _adjust(world.council, award["id"], 0, "Award withdrawn"))
        # 120,001 in the pot, 45,000 spent or held: 75,001 free, of which this award's 120,000
        # can take back 75,001; 44,999 stays, reported.
        assert answer["requested_amount"] == -120_000
        assert answer["applied_amount"] == -75_001
        assert answer["unmet_amount"] == 44_999
        assert answer["amount_after"] == 44_999
        care = await _care(world)
        assert (care["available"], care["pending"], care["spent"]) == (0, 5_000, 40_000)
        assert care["allocated"] == care["available"] + care["pending"] + care["spent"]
        # Money freed later (the hold released) is taken back by the next adjustment.
        commitment_id = (await world.council.get(world.budget_path("/commitments"))).json()[
            "items"
        ][0]["id"]
        voided = await world.council.post(f"/v1/commitments/{commitment_id}/void")
        assert voided.status_code == 200, voided.text
        again = await created(await _adjust(world.council, award["id"], 0, "Award withdrawn"))
        assert (again["applied_amount"], again["unmet_amount"]) == (-5_000, 39_999)

    async def test_a_top_up_past_the_cap_is_refused_and_changes_nothing(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_amount=1)
        grant = await allocate(world.housing, world.budget_id, world.dfg_stream, 2_000_000)
        before = (await world.council.get(world.budget_path())).json()["totals"]
        refused = await _adjust(world.housing, grant["id"], 3_000_000)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/over-cap")
        assert refused.json()["cap_amount"] == 3_000_000
        assert (await world.council.get(world.budget_path())).json()["totals"] == before

    async def test_the_same_amount_again_is_no_change(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        award = await allocate(world.council, world.budget_id, world.care_stream, 10_000)
        same = await _adjust(world.council, award["id"], 10_000)
        assert same.status_code == 409
        assert same.json()["type"].endswith("/no-change")


class TestAdjustingAnIndicativeAllocation:
    async def test_the_amount_shown_changes_and_no_money_moves(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        promise = await _indicative(world, 30_000)
        transfers = await _transfers(world)
        answer = await created(await _adjust(world.council, promise["id"], 12_000))
        assert (answer["applied_amount"], answer["transfer_id"]) == (-18_000, None)
        assert await _transfers(world) == transfers
        assert (await _care(world))["indicative"] == 12_000
        confirmed = await world.council.post(f"/v1/allocations/{promise['id']}/confirm")
        assert confirmed.json()["amount"] == 12_000
        assert (await _care(world))["indicative"] == 0

    async def test_a_withdrawn_promise_cannot_be_confirmed(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        promise = await _indicative(world, 30_000)
        withdrawn = await created(await _adjust(world.council, promise["id"], 0, "Withdrawn"))
        assert withdrawn["amount_after"] == 0
        refused = await world.council.post(f"/v1/allocations/{promise['id']}/confirm")
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/wrong-state")


class TestBadAdjustments:
    @pytest.mark.parametrize(
        "body",
        [
            {"amount": -1, "reason": "x"},
            {"amount": 1.5, "reason": "x"},
            {"amount": "100", "reason": "x"},
            {"amount": 100},
            {"amount": 100, "reason": ""},
            {"amount": 100, "reason": "x", "status": "confirmed"},
        ],
    )
    async def test_a_bad_body_is_a_problem_and_changes_nothing(
        self, partners: PartnerFactory, body: dict[str, Any]
    ) -> None:
        world = await make_world(partners)
        promise = await _indicative(world, 30_000)
        refused = await world.council.post(f"/v1/allocations/{promise['id']}/adjustments", body)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await _care(world))["indicative"] == 30_000


# Requests in flight at once need separate connections and transactions.
@pytest.mark.own_database
class TestTakeBackWhileSpending:
    async def test_a_take_back_racing_spends_never_overdraws_and_keeps_the_books(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1)
        award = await allocate(world.council, world.budget_id, world.care_stream, 100_000)

        async def spend(n: int) -> int:
            response = await world.council.post(world.budget_path("/spends"), spend_body(4_000 + n))
            return response.status_code

        results = await asyncio.gather(
            *(spend(n) for n in range(20)), _adjust(world.council, award["id"], 0)
        )
        statuses, taken = results[:-1], results[-1]
        assert set(statuses) <= {201, 422}
        assert taken.status_code == 201, taken.text
        spent = sum(4_000 + n for n, status in enumerate(statuses) if status == 201)
        answer = taken.json()
        care = await _care(world)
        assert care["spent"] == spent
        assert care["available"] >= 0
        assert care["allocated"] == care["available"] + care["pending"] + care["spent"]
        # Whatever the order, the take-back took all that was free when it ran, and no more.
        assert answer["requested_amount"] == answer["applied_amount"] - answer["unmet_amount"]
        assert care["allocated"] == 100_001 + answer["applied_amount"]
