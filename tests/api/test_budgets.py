"""Budgets: reach, balances that always add up, funders, caps and statements."""

import pytest
from sqlalchemy import func, select

from tests.partners import PartnerFactory
from tests.world import allocate, created, make_stream, make_world, spend_body


class TestGetBudget:
    async def test_anonymous_caller_gets_401_with_a_challenge(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        response = await world.council.client.get(world.budget_path())
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"

    async def test_agency_outside_the_budget_gets_404_like_a_missing_budget(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        stranger = await partners(kind="employment")
        outside = await stranger.get(world.budget_path())
        missing = await stranger.get("/v1/budgets/00000000-0000-0000-0000-000000000000")
        assert outside.status_code == missing.status_code == 404
        assert outside.json()["type"] == missing.json()["type"]

    async def test_balances_show_each_stream_and_add_up(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, care_amount=500_000, dfg_amount=2_000_000)
        budget = (await world.housing.get(world.budget_path())).json()
        assert budget["totals"]["allocated"] == 2_500_000
        assert budget["totals"]["available"] == 2_500_000
        by_stream = {s["stream_id"]: s for s in budget["streams"]}
        assert by_stream[world.dfg_stream]["available"] == 2_000_000
        assert by_stream[world.dfg_stream]["agency_id"] == str(world.housing.agency_id)
        for entry in [budget["totals"], *budget["streams"]]:
            parts = entry["available"] + entry["pending"] + entry["spent"] + entry["returned"]
            assert entry["allocated"] == parts

    async def test_indicative_money_is_shown_apart_and_cannot_be_spent(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1_000)
        extra = await make_stream(world.council, name="Respite fund")
        body = {"stream_id": extra, "amount": 90_000, "status": "indicative"}
        await created(await world.council.post(world.budget_path("/allocations"), body))
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["indicative"] == 90_000
        assert budget["totals"]["allocated"] == 2_001_000
        refused = await world.council.post(world.budget_path("/spends"), spend_body(5_000))
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/insufficient-funds")


class TestAllocations:
    async def test_an_agency_cannot_allocate_from_another_agencys_stream(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        body = {"stream_id": world.dfg_stream, "amount": 100, "status": "confirmed"}
        response = await world.council.post(world.budget_path("/allocations"), body)
        assert response.status_code == 404

    async def test_confirmed_allocations_never_pass_the_streams_cap(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_amount=2_900_000)  # cap is £30,000
        body = {"stream_id": world.dfg_stream, "amount": 200_000, "status": "confirmed"}
        response = await world.housing.post(world.budget_path("/allocations"), body)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/over-cap")
        budget = (await world.housing.get(world.budget_path())).json()
        assert budget["totals"]["allocated"] == 2_900_000 + 500_000

    async def test_confirming_an_indicative_allocation_makes_it_spendable(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1_000)
        body = {"stream_id": world.care_stream, "amount": 40_000, "status": "indicative"}
        allocation = await created(
            await world.council.post(world.budget_path("/allocations"), body)
        )
        confirmed = await world.council.post(f"/v1/allocations/{allocation['id']}/confirm")
        assert confirmed.status_code == 200
        assert confirmed.json()["status"] == "confirmed"
        again = await world.council.post(f"/v1/allocations/{allocation['id']}/confirm")
        assert again.status_code == 409
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["indicative"] == 0
        assert budget["totals"]["allocated"] == 2_041_000

    async def test_funder_cannot_confirm_the_leads_allocation(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        body = {"stream_id": world.care_stream, "amount": 1_000, "status": "indicative"}
        allocation = await created(
            await world.council.post(world.budget_path("/allocations"), body)
        )
        response = await world.housing.post(f"/v1/allocations/{allocation['id']}/confirm")
        assert response.status_code == 403
        assert response.json()["type"].endswith("/forbidden-role")


class TestFunders:
    async def test_only_the_lead_agency_brings_in_funders(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        other = await partners(kind="equipment")
        response = await world.housing.post(
            world.budget_path("/funders"), {"agency_id": str(other.agency_id)}
        )
        assert response.status_code == 403
        assert (await other.get(world.budget_path())).status_code == 404

    async def test_a_funder_reaches_the_budget_and_its_person(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        assert (await world.housing.get(f"/v1/people/{world.person_id}")).status_code == 200
        listed = (await world.housing.get(f"/v1/budgets?person_id={world.person_id}")).json()
        assert [b["id"] for b in listed["items"]] == [world.budget_id]


class TestStatement:
    @pytest.mark.own_database  # the database clock must move between requests
    async def test_statement_as_of_a_past_time_shows_the_money_then(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        async with partners.app.state.sessionmaker() as session:  # the clock created_at reads
            before = (await session.scalar(select(func.now()))).isoformat()
        await created(await world.council.post(world.budget_path("/spends"), spend_body(12_345)))
        then = (
            await world.council.get(world.budget_path("/statement"), params={"as_of": before})
        ).json()
        now = (await world.council.get(world.budget_path("/statement"))).json()
        assert then["totals"]["spent"] == 0
        assert now["totals"]["spent"] == 12_345
        assert now["totals"] == {**(await world.council.get(world.budget_path())).json()["totals"]}

    async def test_statement_before_any_transfer_is_all_zero(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        response = await world.council.get(
            world.budget_path("/statement"), params={"as_of": "2000-01-01T00:00:00Z"}
        )
        totals = response.json()["totals"]
        assert set(totals.values()) == {0}


class TestStreamLimits:
    async def test_new_stream_money_is_allocated_only_up_to_the_cap(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        capped = await make_stream(world.council, name="Capped", cap_amount=1_000)
        response = await world.council.post(
            world.budget_path("/allocations"),
            {"stream_id": capped, "amount": 1_001, "status": "indicative"},
        )
        assert response.status_code == 422
        await allocate(world.council, world.budget_id, capped, 1_000)
