"""Bad input gets a 4xx RFC 9457 problem and changes nothing; no input makes a 500."""

from typing import Any

import pytest

from tests.partners import PartnerFactory
from tests.world import make_world, spend_body

BAD_SPENDS: list[tuple[str, Any]] = [
    ("zero amount", spend_body(0)),
    ("negative amount", spend_body(-5)),
    ("float amount", spend_body(10.5)),  # type: ignore[arg-type]
    ("amount as string", {**spend_body(1), "amount": "100"}),
    ("amount true", {**spend_body(1), "amount": True}),
    ("huge amount", spend_body(10**30)),
    ("beyond 64 bits", spend_body(2**64)),
    ("unknown category", spend_body(100, "casino")),
    ("unknown field", {**spend_body(100), "lead_agency_id": "x"}),
    ("missing description", {k: v for k, v in spend_body(100).items() if k != "description"}),
    ("NUL in description", {**spend_body(100), "description": "tea\x00"}),
    ("huge description", {**spend_body(100), "description": "x" * 10_000}),
    ("not a date", {**spend_body(100), "occurred_on": "yesterday"}),
    ("split not a list", {**spend_body(100), "split": {"a": 1}}),
    ("split with bad uuid", {**spend_body(100), "split": [{"stream_id": "nope", "amount": 1}]}),
    ("body is a list", [spend_body(100)]),
    ("body is null", None),
]


class TestBadSpends:
    @pytest.mark.parametrize(("case", "body"), BAD_SPENDS, ids=[c for c, _ in BAD_SPENDS])
    async def test_is_refused_with_a_problem_and_moves_nothing(
        self, partners: PartnerFactory, case: str, body: Any
    ) -> None:
        world = await make_world(partners)
        response = await world.council.post(world.budget_path("/spends"), body)
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert {"type", "title", "status", "detail"} <= set(problem)
        budget = (await world.council.get(world.budget_path())).json()
        assert budget["totals"]["spent"] == budget["totals"]["pending"] == 0

    async def test_validation_errors_name_each_field(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        body = {**spend_body(0), "category": "casino"}
        problem = (await world.council.post(world.budget_path("/spends"), body)).json()
        assert {e["field"] for e in problem["errors"]} == {"amount", "category"}


class TestBadRequests:
    async def test_malformed_json_is_a_problem(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        response = await world.council.client.post(
            world.budget_path("/spends"),
            content=b'{"amount": 1,',
            headers={
                **world.council.headers,
                "Content-Type": "application/json",
                "Idempotency-Key": "m",
            },
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_deeply_nested_json_is_a_problem(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        response = await world.council.client.post(
            world.budget_path("/spends"),
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={
                **world.council.headers,
                "Content-Type": "application/json",
                "Idempotency-Key": "n",
            },
        )
        assert 400 <= response.status_code < 500

    async def test_wrong_content_type_is_415(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        response = await world.council.client.post(
            world.budget_path("/spends"),
            content=b"amount=1",
            headers={**world.council.headers, "Content-Type": "text/plain", "Idempotency-Key": "t"},
        )
        assert response.status_code == 415

    async def test_a_body_over_one_mebibyte_is_413(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        big = {**spend_body(1), "description": "x" * (1024 * 1024 + 1)}
        response = await world.council.post(world.budget_path("/spends"), big)
        assert response.status_code == 413

    async def test_non_uuid_ids_are_a_problem(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        for path in ("/v1/budgets/123", "/v1/spends/%00", "/v1/people/not-a-uuid"):
            response = await world.council.get(path)
            assert response.status_code == 422, path
            assert response.headers["content-type"] == "application/problem+json"

    async def test_a_forged_cursor_is_a_problem(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        for cursor in ("abc", "W10", "%00", "eyJ4IjoxfQ"):
            response = await world.council.get(
                world.budget_path("/transfers"), params={"cursor": cursor}
            )
            assert response.status_code == 400, cursor

    async def test_budget_ending_before_it_starts_is_refused(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners)
        body = {
            "person_id": world.person_id,
            "starts_on": "2026-04-01",
            "ends_on": "2026-03-31",
            "currency": "GBP",
            "deployment": "managed",
        }
        assert (await world.council.post("/v1/budgets", body)).status_code == 422
        assert (
            await world.council.post(
                "/v1/budgets", {**body, "ends_on": "2027-03-31", "currency": "XXX"}
            )
        ).status_code == 422


class TestPagination:
    async def test_transfers_come_newest_first_in_pages(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        for amount in (101, 102, 103):
            await world.council.post(world.budget_path("/spends"), spend_body(amount))
        seen: list[int] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await world.council.get(world.budget_path("/transfers"), params=params)).json()
            seen += [t["amount"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen[:3] == [103, 102, 101]
        assert len(seen) == 5  # three spends and two allocations

    async def test_limit_over_500_is_refused(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        response = await world.council.get("/v1/streams", params={"limit": 501})
        assert response.status_code == 422


class TestETags:
    async def test_updates_need_the_current_etag(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        read = await world.council.get(f"/v1/streams/{world.care_stream}")
        etag = read.headers["etag"]
        missing = await world.council.patch(f"/v1/streams/{world.care_stream}", {"name": "A"})
        assert missing.status_code == 428
        changed = await world.council.patch(
            f"/v1/streams/{world.care_stream}", {"name": "A"}, headers={"If-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        stale = await world.council.patch(
            f"/v1/streams/{world.care_stream}", {"name": "B"}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412
        assert (await world.council.get(f"/v1/streams/{world.care_stream}")).json()["name"] == "A"
