"""Bad input gets a 4xx RFC 9457 problem and changes nothing; no input makes a 500."""

import base64
import json
import uuid
from typing import Any

import pytest

from service.api.pagination import encode_cursor
from tests.partners import PartnerFactory
from tests.world import commitment_body, make_world, spend_body

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


# Crafted input: each gets a 4xx problem, never a 500, and changes nothing.

LISTS = ["/v1/budgets", "/v1/streams", "{budget}/transfers"]


def _raw(value: Any) -> str:
    """An unsealed cursor, as a client who read the old format would forge one."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


FORGED_CURSORS: list[tuple[str, str]] = [
    ("raw 2**63", _raw([2**63])),
    ("raw year 10000", _raw(["10000-01-01T00:00:00+00:00", str(uuid.uuid4())])),
    ("raw Infinity", base64.urlsafe_b64encode(b"[Infinity]").decode()),
    ("not base64", "***"),
    ("empty", ""),
]
# Sealed with the service's own key: hostile contents that only a bug (or a leaked key)
# could produce must still be a 400, not a crash in the driver.
HOSTILE_KEYS: list[tuple[str, tuple[Any, ...]]] = [
    ("2**63", (2**63,)),
    ("huge negative", (-(2**80),)),
    ("1e300", (1e300,)),
    ("Infinity", (float("inf"),)),
    ("NUL in string", ("2026-01-01T00:00:00+00:00\x00", "a\x00b")),
    ("year 0 after conversion", ("0001-01-01T00:00:00+14:00", str(uuid.uuid4()))),
    ("year 10000 after conversion", ("9999-12-31T23:59:59-14:00", str(uuid.uuid4()))),
    ("year 10000", ("10000-01-01T00:00:00+00:00", str(uuid.uuid4()))),
    ("no time zone", ("2026-01-01T00:00:00", str(uuid.uuid4()))),
    ("wrong types", (1.5, 7)),
    ("wrong count", (1, 2, 3)),
]


def _cursor_cases() -> list[Any]:
    cases = [
        pytest.param(path, cursor, id=f"{path}-{name}")
        for path in LISTS
        for name, cursor in FORGED_CURSORS
    ]
    cases += [
        pytest.param(path, key, id=f"{path}-sealed {name}")
        for path in LISTS
        for name, key in HOSTILE_KEYS
    ]
    return cases


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    return problem


class TestCraftedInput:
    @pytest.mark.parametrize(("path", "cursor"), _cursor_cases())
    async def test_a_crafted_cursor_is_a_bad_cursor_problem(
        self, partners: PartnerFactory, path: str, cursor: str | tuple[Any, ...]
    ) -> None:
        world = await make_world(partners)
        if isinstance(cursor, tuple):
            cursor = encode_cursor(*cursor)
        response = await world.council.get(
            path.format(budget=world.budget_path()), params={"cursor": cursor}
        )
        assert _problem(response, 400)["type"].endswith("/bad-cursor")

    async def test_cursors_are_opaque_and_tamper_evident(self, partners: PartnerFactory) -> None:
        world = await make_world(partners)
        for amount in (101, 102):
            await world.council.post(world.budget_path("/spends"), spend_body(amount))
        page = await world.council.get(world.budget_path("/transfers"), params={"limit": 1})
        cursor = page.json()["next_cursor"]
        sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        with pytest.raises(ValueError):
            json.loads(sealed)  # the transfer sequence is not readable
        tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
        response = await world.council.get(
            world.budget_path("/transfers"), params={"cursor": tampered}
        )
        assert _problem(response, 400)["type"].endswith("/bad-cursor")
        good = await world.council.get(world.budget_path("/transfers"), params={"cursor": cursor})
        assert good.status_code == 200

    @pytest.mark.parametrize(
        "as_of",
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00",
            "10000-01-01T00:00:00Z",
        ],
    )
    async def test_a_statement_time_outside_utc_years_1_to_9999_is_refused(
        self, partners: PartnerFactory, as_of: str
    ) -> None:
        world = await make_world(partners)
        response = await world.council.get(world.budget_path("/statement"), params={"as_of": as_of})
        problem = _problem(response, 422)
        assert [e["field"] for e in problem["errors"]] == ["query.as_of"]

    @pytest.mark.parametrize(
        ("expires_at", "message"),
        [
            ("2030-01-01T00:00:00", "time zone"),
            ("9999-12-31T23:59:59-14:00", "years 1 and 9999"),
        ],
    )
    async def test_a_commitment_expiry_needs_a_zone_and_a_utc_value(
        self, partners: PartnerFactory, expires_at: str, message: str
    ) -> None:
        world = await make_world(partners)
        response = await world.council.post(
            world.budget_path("/commitments"), commitment_body(1_000, expires_at=expires_at)
        )
        problem = _problem(response, 422)
        assert [e["field"] for e in problem["errors"]] == ["expires_at"]
        assert message in problem["errors"][0]["message"]
        totals = (await world.council.get(world.budget_path())).json()["totals"]
        assert totals["pending"] == 0

    @pytest.mark.parametrize(
        ("kind", "field"), [("people", "name"), ("people", "reference"), ("streams", "name")]
    )
    async def test_null_for_a_required_field_in_a_patch_is_refused(
        self, partners: PartnerFactory, kind: str, field: str
    ) -> None:
        world = await make_world(partners)
        path = f"/v1/{kind}/{world.person_id if kind == 'people' else world.care_stream}"
        before = await world.council.get(path)
        response = await world.council.patch(
            path, {field: None}, headers={"If-Match": before.headers["etag"]}
        )
        problem = _problem(response, 422)
        assert problem["errors"][0]["field"] == field
        assert "must not be null" in problem["errors"][0]["message"]
        after = await world.council.get(path)
        assert after.json() == before.json()

    @pytest.mark.parametrize("amount", [60.5, "6000", 60.0])
    async def test_an_amount_that_is_not_integer_pence_says_so(
        self, partners: PartnerFactory, amount: Any
    ) -> None:
        world = await make_world(partners)
        response = await world.council.post(
            world.budget_path("/spends"), {**spend_body(1), "amount": amount}
        )
        problem = _problem(response, 422)
        assert problem["errors"] == [
            {
                "field": "amount",
                "message": "amount must be a whole number of pence (minor units) sent as a"
                " JSON integer, e.g. 6050 for £60.50",
            }
        ]
