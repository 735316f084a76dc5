"""Who may read and write what over REST: every rule, tried by the lead, a funder and an
outsider.

The table (tests/access_rules.py, shared with tests/graphql/test_reach.py) is the one in
docs/access.md. A refused write answers 403 `forbidden-role` (or `not-awaiting-you`) when
the caller reaches the object, 404 when it does not, and changes nothing: the budget's money
and the object's version stay as they were. Each rule names the route it writes through
(checked on the request it sends), and every write route of the app (tests/write_routes.py)
has at least one rule.
"""

from typing import Any

import pytest

from tests.access_rules import OK, READS, ROLES, RULES, Cast, rest_outcome
from tests.partners import PartnerFactory
from tests.world import created, make_world
from tests.write_routes import WRITE_ROUTES

CASES = [
    pytest.param(name, role, rule.outcome(role), id=f"{name} by {role}")
    for name, rule in RULES.items()
    for role in ROLES
]
READ_CASES = [
    pytest.param(name, role, read.outcome(role), id=f"{name} by {role}")
    for name, read in READS.items()
    for role in ROLES
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
    rule = RULES[name]
    context = await rule.setup(cast)
    before = await _state(cast)
    response = await rule.rest(cast, cast.by(role), context)
    assert next(r for r in WRITE_ROUTES if r.name == rule.route).served(response.request)
    assert rest_outcome(response) == outcome
    if outcome != OK:
        assert await _state(cast) == before  # a refusal changes nothing


@pytest.mark.parametrize(("name", "role", "outcome"), READ_CASES)
async def test_who_may_read(partners: PartnerFactory, name: str, role: str, outcome: str) -> None:
    cast = Cast(await make_world(partners), await partners(kind="other", name="Outsider"))
    read = READS[name]
    context = await read.setup(cast)
    assert rest_outcome(await cast.by(role).get(read.rest(cast, context))) == outcome


def test_every_write_route_has_a_role_rule() -> None:
    ruled = {rule.route for rule in RULES.values()}
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
