"""Who may write what: every write, tried by the lead, a funder and an outsider.

The table is the one in docs/access.md. A refused write answers 403 `forbidden-role` (or
`not-awaiting-you`) when the caller reaches the object, 404 when it does not, and changes
nothing: the budget's money and the object's version stay as they were. Each rule names
the route it writes through (checked on the request it sends), and every write route of
the app (tests/write_routes.py) has at least one rule.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.partners import Partner, PartnerFactory
from tests.world import World, commitment_body, created, make_stream, make_world, spend_body
from tests.write_routes import WRITE_ROUTES


@dataclass
class Cast:
    """The world plus an agency with no part in the budget."""

    world: World
    outsider: Partner

    def by(self, role: str) -> Partner:
        """The partner playing `role`."""
        return {
            "lead": self.world.council,
            "funder": self.world.housing,
            "outsider": self.outsider,
        }[role]


async def _patch(cast: Cast, caller: Partner, path: str, body: dict[str, Any]) -> httpx.Response:
    """PATCH with If-Match taken from the lead's own read, so only the role decides."""
    etag = (await cast.world.council.get(path)).headers.get("etag", '"x"')
    return await caller.patch(path, body, headers={"If-Match": etag})


async def _spend(cast: Cast) -> str:
    body = spend_body(1_000)
    return str(
        (await created(await cast.world.council.post(cast.world.budget_path("/spends"), body)))[
            "id"
        ]
    )


async def _commitment(cast: Cast) -> str:
    path = cast.world.budget_path("/commitments")
    return str((await created(await cast.world.council.post(path, commitment_body(1_000))))["id"])


async def _awaiting_funder(cast: Cast) -> str:
    """A spend whose housing (funder) line awaits housing's approval."""
    w = cast.world
    path = f"/v1/streams/{w.dfg_stream}"
    etag = (await w.housing.get(path)).headers["etag"]
    changed = await w.housing.patch(
        path, {"approval_threshold_amount": 100}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    body = spend_body(5_000, "housing_adaptation")
    spend = await created(await w.council.post(w.budget_path("/spends"), body))
    assert spend["status"] == "pending_approval"
    return str(spend["id"])


async def _awaiting_funder_commitment(cast: Cast) -> str:
    """A commitment whose housing (funder) line awaits housing's approval."""
    await _awaiting_funder(cast)  # sets housing's threshold on the way
    body = commitment_body(5_000, "housing_adaptation")
    path = cast.world.budget_path("/commitments")
    commitment = await created(await cast.world.council.post(path, body))
    assert commitment["status"] == "pending_approval"
    return str(commitment["id"])


async def _nothing(cast: Cast) -> str:
    return ""


async def _indicative_care(cast: Cast) -> str:
    body = {"stream_id": cast.world.care_stream, "amount": 1_000, "status": "indicative"}
    path = cast.world.budget_path("/allocations")
    return str((await created(await cast.world.council.post(path, body)))["id"])


async def _own_stream(cast: Cast) -> str:
    """A stream for each of the three agencies, so each allocates only its own money."""
    return ",".join([await make_stream(cast.by(role), name=f"{role} top-up") for role in ROLES])


ROLES = ("lead", "funder", "outsider")


def _own(cast: Cast, caller: Partner, streams: str) -> str:
    role = next(role for role in ROLES if cast.by(role) is caller)
    return streams.split(",")[ROLES.index(role)]


Act = Callable[[Cast, Partner, str], Awaitable[httpx.Response]]
Setup = Callable[[Cast], Awaitable[str]]


async def open_stream(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(
        "/v1/streams", {"name": "Respite fund", "kind": "social_care", "unspent": "return"}
    )


async def edit_stream(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, f"/v1/streams/{cast.world.care_stream}", {"name": "Care"})


async def register_person(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {"reference": "P-NEW", "name": "Jo", "date_of_birth": "1975-03-04"}
    return await caller.post("/v1/people", body)


async def open_budget(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {
        "person_id": cast.world.person_id,
        "starts_on": "2027-04-01",
        "ends_on": "2028-03-31",
        "currency": "GBP",
        "deployment": "managed",
    }
    return await caller.post("/v1/budgets", body)


async def edit_person(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, f"/v1/people/{cast.world.person_id}", {"name": "Renamed"})


async def edit_budget(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, cast.world.budget_path(), {"deployment": "mixed"})


async def add_funder(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {"agency_id": str(cast.outsider.agency_id)}
    return await caller.post(cast.world.budget_path("/funders"), body)


async def allocate(cast: Cast, caller: Partner, streams: str) -> httpx.Response:
    body = {"stream_id": _own(cast, caller, streams), "amount": 1_000, "status": "confirmed"}
    return await caller.post(cast.world.budget_path("/allocations"), body)


async def confirm(cast: Cast, caller: Partner, allocation_id: str) -> httpx.Response:
    return await caller.post(f"/v1/allocations/{allocation_id}/confirm")


async def adjust(cast: Cast, caller: Partner, allocation_id: str) -> httpx.Response:
    body = {"amount": 2_000, "reason": "Award amended"}
    return await caller.post(f"/v1/allocations/{allocation_id}/adjustments", body)


async def spend(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(cast.world.budget_path("/spends"), spend_body(1_000))


async def spend_by_split(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    split = [{"stream_id": cast.world.care_stream, "amount": 1_000}]
    return await caller.post(cast.world.budget_path("/spends"), spend_body(1_000, split=split))


async def reverse(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/reverse")


async def commit(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(cast.world.budget_path("/commitments"), commitment_body(1_000))


async def post_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/post")


async def void_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/void")


async def approve(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/approve")


async def reject(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/reject")


async def approve_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/approve")


async def reject_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/reject")


async def _lead_hook(cast: Cast) -> str:
    body = {"url": "http://127.0.0.1:9/hooks"}
    return str((await created(await cast.world.council.post(HOOKS, body)))["id"])


async def register_hook(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(HOOKS, {"url": "http://127.0.0.1:9/hooks"})


async def delete_hook(cast: Cast, caller: Partner, endpoint_id: str) -> httpx.Response:
    return await caller.delete(f"{HOOKS}/{endpoint_id}")


HOOKS = "/v1/webhook-endpoints"
OK, NO, HIDDEN = "ok", "forbidden", "hidden"

# write -> (its route, set-up done by the lead, the write, what lead / funder / outsider get).
RULES: dict[str, tuple[str, Setup, Act, str, str, str]] = {
    "open a stream": ("POST /v1/streams", _nothing, open_stream, OK, OK, OK),
    "edit the lead's stream": (
        "PATCH /v1/streams/{stream_id}",
        _nothing,
        edit_stream,
        OK,
        HIDDEN,
        HIDDEN,
    ),
    "register a person": ("POST /v1/people", _nothing, register_person, OK, OK, OK),
    "open a budget for the person": ("POST /v1/budgets", _nothing, open_budget, OK, NO, HIDDEN),
    "edit the person": ("PATCH /v1/people/{person_id}", _nothing, edit_person, OK, NO, HIDDEN),
    "edit the budget": ("PATCH /v1/budgets/{budget_id}", _nothing, edit_budget, OK, NO, HIDDEN),
    "bring a funder in": (
        "POST /v1/budgets/{budget_id}/funders",
        _nothing,
        add_funder,
        OK,
        NO,
        HIDDEN,
    ),
    "allocate from its own stream": (
        "POST /v1/budgets/{budget_id}/allocations",
        _own_stream,
        allocate,
        OK,
        OK,
        HIDDEN,
    ),
    "confirm the lead's allocation": (
        "POST /v1/allocations/{allocation_id}/confirm",
        _indicative_care,
        confirm,
        OK,
        NO,
        HIDDEN,
    ),
    "adjust the lead's allocation": (
        "POST /v1/allocations/{allocation_id}/adjustments",
        _indicative_care,
        adjust,
        OK,
        NO,
        HIDDEN,
    ),
    "record a spend": ("POST /v1/budgets/{budget_id}/spends", _nothing, spend, OK, NO, HIDDEN),
    "spend another's stream by a split": (
        "POST /v1/budgets/{budget_id}/spends",
        _nothing,
        spend_by_split,
        OK,
        NO,
        HIDDEN,
    ),
    "reverse a spend": ("POST /v1/spends/{spend_id}/reverse", _spend, reverse, OK, NO, HIDDEN),
    "hold money": (
        "POST /v1/budgets/{budget_id}/commitments",
        _nothing,
        commit,
        OK,
        NO,
        HIDDEN,
    ),
    "post a commitment": (
        "POST /v1/commitments/{commitment_id}/post",
        _commitment,
        post_held,
        OK,
        NO,
        HIDDEN,
    ),
    "void a commitment": (
        "POST /v1/commitments/{commitment_id}/void",
        _commitment,
        void_held,
        OK,
        NO,
        HIDDEN,
    ),
    "approve the funder's line": (
        "POST /v1/spends/{spend_id}/approve",
        _awaiting_funder,
        approve,
        NO,
        OK,
        HIDDEN,
    ),
    "reject the funder's line": (
        "POST /v1/spends/{spend_id}/reject",
        _awaiting_funder,
        reject,
        NO,
        OK,
        HIDDEN,
    ),
    "approve the funder's held money": (
        "POST /v1/commitments/{commitment_id}/approve",
        _awaiting_funder_commitment,
        approve_held,
        NO,
        OK,
        HIDDEN,
    ),
    "reject the funder's held money": (
        "POST /v1/commitments/{commitment_id}/reject",
        _awaiting_funder_commitment,
        reject_held,
        NO,
        OK,
        HIDDEN,
    ),
    "register a webhook endpoint": ("POST " + HOOKS, _nothing, register_hook, OK, OK, OK),
    "delete the lead's webhook endpoint": (
        "DELETE " + HOOKS + "/{endpoint_id}",
        _lead_hook,
        delete_hook,
        OK,
        HIDDEN,
        HIDDEN,
    ),
}
CASES = [
    pytest.param(name, role, outcome, id=f"{name} by {role}")
    for name, (_, _, _, *outcomes) in RULES.items()
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


async def _state(cast: Cast) -> tuple[Any, ...]:
    """What a refused write must leave alone: money, versions, funders and lists."""
    w = cast.world
    budget = await w.council.get(w.budget_path())
    person = await w.council.get(f"/v1/people/{w.person_id}")
    spends = await w.council.get(w.budget_path("/spends"))
    commitments = await w.council.get(w.budget_path("/commitments"))
    seen_by_outsider = await cast.outsider.get(w.budget_path())
    budgets = await w.council.get("/v1/budgets", params={"person_id": w.person_id})
    return (
        budget.json()["totals"],
        budget.headers["etag"],
        person.json(),
        person.headers["etag"],
        [(s["id"], s["status"]) for s in spends.json()["items"]],
        [(c["id"], c["status"]) for c in commitments.json()["items"]],
        seen_by_outsider.status_code,
        len(budgets.json()["items"]),
    )


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_who_may_write(partners: PartnerFactory, name: str, role: str, outcome: str) -> None:
    cast = Cast(await make_world(partners), await partners(kind="other", name="Outsider"))
    route, setup, act, *_ = RULES[name]
    context = await setup(cast)
    before = await _state(cast)
    response = await act(cast, cast.by(role), context)
    assert next(r for r in WRITE_ROUTES if r.name == route).served(response.request), route
    if outcome == OK:
        assert response.status_code in (200, 201), response.text
        return
    assert response.status_code == (403 if outcome == NO else 404), response.text
    kind = response.json()["type"].rsplit("/", 1)[1]
    if outcome == NO:
        assert kind in ("forbidden-role", "not-awaiting-you")
    else:
        assert kind == "not-found"
    assert await _state(cast) == before  # a refusal changes nothing


def test_every_write_route_has_a_role_rule() -> None:
    ruled = {route for route, *_ in RULES.values()}
    missing = [route.name for route in WRITE_ROUTES if route.name not in ruled]
    assert not missing, f"no role rule for {', '.join(missing)}: add one to RULES"
    assert ruled <= {route.name for route in WRITE_ROUTES}, "a rule names no route of the app"


async def test_funding_one_budget_reaches_no_other(partners: PartnerFactory) -> None:
    """A funder reaches the budgets it funds, not every budget of the lead or the person."""
    world = await make_world(partners)
    body = {
        "person_id": world.person_id,
        "starts_on": "2027-04-01",
        "ends_on": "2028-03-31",
        "currency": "GBP",
        "deployment": "managed",
    }
    other = await created(await world.council.post("/v1/budgets", body))
    assert (await world.housing.get(f"/v1/budgets/{other['id']}")).status_code == 404
    listed = (await world.housing.get("/v1/budgets")).json()["items"]
    assert [budget["id"] for budget in listed] == [world.budget_id]
