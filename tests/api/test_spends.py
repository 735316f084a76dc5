"""Spends: the explained split, refusals, approvals, reversals and idempotent retries."""

from tests.partners import PartnerFactory
from tests.world import commitment_body, created, make_world, spend_body


class TestPostSpend:
    async def test_ring_fenced_money_pays_first_and_every_line_says_why(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=500_000, dfg_amount=2_000_000)
        spend = await created(
            await world.council.post(
                world.budget_path("/spends"), spend_body(2_100_000, "housing_adaptation")
            )
        )
        assert spend["status"] == "posted"
        assert [(line["stream_id"], line["amount"]) for line in spend["lines"]] == [
            (world.dfg_stream, 2_000_000),
            (world.care_stream, 100_000),
        ]
        assert all(line["reason"] for line in spend["lines"])
        assert "£20,000.00" in spend["lines"][0]["reason"]
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 2_100_000
        assert budget["totals"]["available"] == 400_000

    async def test_spend_no_eligible_stream_can_pay_is_refused_with_reasons(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=500_000, dfg_amount=2_000_000)
        response = await world.council.post(world.budget_path("/spends"), spend_body(600_000))
        assert response.status_code == 422
        problem = response.json()
        assert problem["type"].endswith("/insufficient-funds")
        assert problem["eligible_amount"] == 500_000
        reasons = {s["stream_id"]: s["reason"] for s in problem["streams"]}
        assert "ring-fenced" in reasons[world.dfg_stream]
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 0

    async def test_a_valid_preferred_split_is_used_as_given(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        split = [
            {"stream_id": world.care_stream, "amount": 700},
            {"stream_id": world.dfg_stream, "amount": 300},
        ]
        spend = await created(
            await world.council.post(
                world.budget_path("/spends"), spend_body(1_000, "housing_adaptation", split=split)
            )
        )
        assert [(x["stream_id"], x["amount"]) for x in spend["lines"]] == [
            (s["stream_id"], s["amount"]) for s in split
        ]

    async def test_an_invalid_preferred_split_is_refused_with_every_problem(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        split = [{"stream_id": world.dfg_stream, "amount": 900}]
        response = await world.council.post(
            world.budget_path("/spends"), spend_body(1_000, "personal_care", split=split)
        )
        assert response.status_code == 422
        problems = response.json()["problems"]
        assert len(problems) == 2  # not eligible, and does not add up

    async def test_a_spend_dated_outside_the_period_is_refused(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        body = spend_body(100, occurred_on="2027-04-01")
        response = await world.council.post(world.budget_path("/spends"), body)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/outside-period")

    async def test_anyone_outside_the_budget_gets_404_and_nothing_moves(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        stranger = await partners(kind="health")
        response = await stranger.post(world.budget_path("/spends"), spend_body(100))
        assert response.status_code == 404
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 0

    async def test_a_token_without_spends_write_gets_403_naming_the_scope(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        token = await partners.token(
            world.council.client_id, world.council.client_secret, "budgets:read"
        )
        response = await world.council.client.post(
            world.budget_path("/spends"),
            json=spend_body(100),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"},
        )
        assert response.status_code == 403
        assert "spends:write" in response.json()["detail"]


class TestIdempotency:
    async def test_a_retry_replays_the_first_answer_and_moves_money_once(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        first = await world.council.post(
            world.budget_path("/spends"), spend_body(1_000), key="same"
        )
        again = await world.council.post(
            world.budget_path("/spends"), spend_body(1_000), key="same"
        )
        assert first.status_code == again.status_code == 201
        assert first.content == again.content  # byte for byte, not just the same JSON
        assert again.headers["idempotent-replayed"] == "true"
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 1_000

    async def test_the_same_key_with_another_body_is_refused(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        await world.council.post(world.budget_path("/spends"), spend_body(1_000), key="k")
        other = await world.council.post(world.budget_path("/spends"), spend_body(2_000), key="k")
        assert other.status_code == 422
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 1_000

    async def test_keys_belong_to_one_client_not_to_its_agency(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        second = await partners.another_client(world.council)
        a = await world.council.post(world.budget_path("/spends"), spend_body(1_000), key="shared")
        b = await second.post(world.budget_path("/spends"), spend_body(1_000), key="shared")
        assert a.status_code == b.status_code == 201
        assert "idempotent-replayed" not in b.headers
        assert a.json()["id"] != b.json()["id"]
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 2_000

    async def test_a_money_write_without_a_key_is_refused(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        response = await world.council.post(world.budget_path("/spends"), spend_body(1), key=None)
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["detail"]


class TestApproval:
    async def test_a_share_over_the_threshold_waits_for_that_agency(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        spend = await created(
            await world.council.post(
                world.budget_path("/spends"), spend_body(150_000, "housing_adaptation")
            )
        )
        assert spend["status"] == "pending_approval"
        assert spend["lines"][0]["reason"].startswith("Awaiting approval: £1,500.00 from")
        held = (await world.council.get(world.budget_path())).json()["totals"]
        assert held["pending"] == 150_000 and held["spent"] == 0
        assert (await world.council.post(f"/v1/spends/{spend['id']}/approve")).status_code == 403
        approved = await world.housing.post(f"/v1/spends/{spend['id']}/approve")
        assert approved.status_code == 200
        assert approved.json()["status"] == "posted"
        reason = approved.json()["lines"][0]["reason"]
        assert reason.startswith("Paid, as its agency approved: £1,500.00 from")
        paid = (await world.council.get(world.budget_path())).json()["totals"]
        assert paid["pending"] == 0 and paid["spent"] == 150_000

    async def test_a_rejected_spend_releases_the_held_money(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        spend = await created(
            await world.council.post(
                world.budget_path("/spends"), spend_body(150_000, "housing_adaptation")
            )
        )
        rejected = await world.housing.post(f"/v1/spends/{spend['id']}/reject")
        assert rejected.json()["status"] == "rejected"
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert totals["pending"] == 0 and totals["spent"] == 0
        assert totals["available"] == totals["allocated"]


class TestSplittingDoesNotDodgeApproval:
    """A stream's threshold counts what it paid lately for the same category and payee."""

    async def test_the_purchase_that_passes_the_threshold_waits(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        path = world.budget_path("/spends")
        ramp = spend_body(40_000, "housing_adaptation", payee="Ramps Ltd")
        first, second, third = [(await world.council.post(path, ramp)).json() for _ in range(3)]
        assert [first["status"], second["status"]] == ["posted", "posted"]
        assert third["status"] == "pending_approval"
        assert "£800.00 paid lately" in third["lines"][0]["reason"]
        inbox = (await world.housing.get("/v1/approvals")).json()["items"]
        assert [item["id"] for item in inbox] == [third["id"]]

    async def test_another_payee_or_category_is_another_purchase(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        path = world.budget_path("/spends")
        for payee in ("Ramps Ltd", "Ramps Ltd", "Lifts Ltd", "Doors Ltd"):
            body = spend_body(40_000, "housing_adaptation", payee=payee)
            assert (await world.council.post(path, body)).json()["status"] == "posted"

    async def test_a_rejected_spend_no_longer_counts(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        path = world.budget_path("/spends")
        big = await created(
            await world.council.post(path, spend_body(150_000, "housing_adaptation"))
        )
        assert big["status"] == "pending_approval"
        rejected = await world.housing.post(f"/v1/spends/{big['id']}/reject")
        assert rejected.json()["status"] == "rejected"
        small = await world.council.post(path, spend_body(90_000, "housing_adaptation"))
        assert small.json()["status"] == "posted"


class TestReverse:
    async def test_reversal_returns_each_streams_share(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, care_amount=500_000, dfg_amount=2_000_000)
        spend = await created(
            await world.council.post(
                world.budget_path("/spends"), spend_body(2_100_000, "housing_adaptation")
            )
        )
        reversal = await created(await world.council.post(f"/v1/spends/{spend['id']}/reverse"))
        assert {(x["stream_id"], x["amount"]) for x in reversal["lines"]} == {
            (world.dfg_stream, 2_000_000),
            (world.care_stream, 100_000),
        }
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == 0
        assert budget["totals"]["available"] == 2_500_000
        assert (await world.council.get(f"/v1/spends/{spend['id']}")).json()["status"] == "reversed"
        twice = await world.council.post(f"/v1/spends/{spend['id']}/reverse")
        assert twice.status_code == 409


class TestCommitments:
    async def test_held_money_is_posted_in_part_and_the_rest_released(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=100_000)
        commitment = await created(
            await world.council.post(
                world.budget_path("/commitments"),
                commitment_body(60_000),
            )
        )
        assert commitment["status"] == "pending"
        assert (await world.council.get(world.budget_path())).json()["totals"]["pending"] == 60_000
        posted = await world.council.post(
            f"/v1/commitments/{commitment['id']}/post", {"amount": 45_000}
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["posted_amount"] == 45_000
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        moved = (totals["pending"], totals["spent"], totals["available"])
        assert moved == (0, 45_000, 55_000 + 2_000_000)

    async def test_a_voided_commitment_frees_everything(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, care_amount=100_000)
        commitment = await created(
            await world.council.post(
                world.budget_path("/commitments"),
                commitment_body(60_000),
            )
        )
        voided = await world.council.post(f"/v1/commitments/{commitment['id']}/void")
        assert voided.json()["status"] == "voided"
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert totals["available"] == 100_000 + 2_000_000
        again = await world.council.post(f"/v1/commitments/{commitment['id']}/post")
        assert again.status_code == 409


class TestCommitmentApproval:
    async def test_held_money_over_a_threshold_waits_for_the_agency_before_it_can_be_paid(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=1, dfg_threshold=100_000)
        body = commitment_body(150_000, "housing_adaptation")
        commitment = await created(
            await world.council.post(world.budget_path("/commitments"), body)
        )
        assert commitment["status"] == "pending_approval"
        early = await world.council.post(f"/v1/commitments/{commitment['id']}/post")
        assert early.status_code == 409
        approved = await world.housing.post(f"/v1/commitments/{commitment['id']}/approve")
        assert approved.json()["status"] == "pending"
        paid = await world.council.post(f"/v1/commitments/{commitment['id']}/post")
        assert paid.json()["status"] == "posted"
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert (totals["pending"], totals["spent"]) == (0, 150_000)

    async def test_a_rejected_commitment_releases_its_money(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, dfg_threshold=100_000)
        body = commitment_body(150_000, "housing_adaptation")
        commitment = await created(
            await world.council.post(world.budget_path("/commitments"), body)
        )
        rejected = await world.housing.post(f"/v1/commitments/{commitment['id']}/reject")
        assert rejected.json()["status"] == "rejected"
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert totals["pending"] == 0 and totals["available"] == totals["allocated"]
