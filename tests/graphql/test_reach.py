"""Who may read and write what over GraphQL: the REST table, case for case.

Every rule and read of tests/access_rules.py (the table tests/api/test_access.py holds REST
to) is tried here through GraphQL by the lead, a funder and an outsider, and must end the
same: OK; FORBIDDEN (forbidden-role, not-awaiting-you) where REST answers 403; NOT_FOUND
where REST answers 404. A refused write changes nothing. A token without the scope REST's
route demands gets FORBIDDEN naming that scope; no token, or a revoked client, UNAUTHENTICATED.
"""

from typing import Any

import pytest

from service.auth.caller import SCOPES
from service.auth.service import revoke_client
from tests.access_rules import OK, READS, ROLES, RULES, Cast, graphql_outcome
from tests.graphql.client import as_partner, ask
from tests.partners import PartnerFactory
from tests.world import make_world
from tests.write_routes import WRITE_ROUTES

CASES = [
    pytest.param(name, role, rule.outcome(role), id=f"{name} by {role}")
    for name, rule in RULES.items()
    if rule.graphql is not None
    for role in ROLES
]
READ_CASES = [
    pytest.param(name, role, read.outcome(role), id=f"{name} by {role}")
    for name, read in READS.items()
    for role in ROLES
]
# Writes GraphQL does not offer: front-ends change streams, people and budgets over REST,
# and awards are adjusted by the funding agency's own system.
REST_ONLY = {
    "open a stream",
    "edit the lead's stream",
    "edit the person",
    "edit the budget",
    "adjust the lead's allocation",
    # Partners register webhook endpoints over REST only.
    "register a webhook endpoint",
    "delete the lead's webhook endpoint",
}


async def _cast(partners: PartnerFactory) -> Cast:
    return Cast(await make_world(partners), await partners(kind="other", name="Outsider"))


async def _state(cast: Cast) -> tuple[Any, ...]:
    """What a refused write must leave alone, read through REST."""
    w = cast.world
    budget = await w.council.get(w.budget_path())
    spends = await w.council.get(w.budget_path("/spends"))
    commitments = await w.council.get(w.budget_path("/commitments"))
    budgets = await w.council.get("/v1/budgets", params={"person_id": w.person_id})
    seen_by_outsider = await cast.outsider.get(w.budget_path())
    return (
        budget.json(),
        spends.json()["items"],
        commitments.json()["items"],
        len(budgets.json()["items"]),
        seen_by_outsider.status_code,
    )


def test_graphql_has_every_write_but_the_rest_only_ones() -> None:
    missing = {name for name, rule in RULES.items() if rule.graphql is None}
    assert missing == REST_ONLY


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_who_may_write(partners: PartnerFactory, name: str, role: str, outcome: str) -> None:
    cast = await _cast(partners)
    rule = RULES[name]
    assert rule.graphql is not None
    context = await rule.setup(cast)
    before = await _state(cast)
    answer = await rule.graphql(cast, cast.by(role), context)
    assert graphql_outcome(answer) == outcome
    if outcome != OK:
        assert await _state(cast) == before


@pytest.mark.parametrize(("name", "role", "outcome"), READ_CASES)
async def test_who_may_read(partners: PartnerFactory, name: str, role: str, outcome: str) -> None:
    cast = await _cast(partners)
    read = READS[name]
    context = await read.setup(cast)
    answer = await as_partner(cast.by(role), read.graphql, id=read.id(cast, context))
    assert graphql_outcome(answer) == outcome


@pytest.mark.parametrize("name", [name for name, rule in RULES.items() if rule.graphql is not None])
async def test_a_missing_scope_is_forbidden_naming_it(partners: PartnerFactory, name: str) -> None:
    cast = await _cast(partners)
    rule = RULES[name]
    assert rule.graphql is not None
    [scope] = next(route for route in WRITE_ROUTES if route.name == rule.route).scopes
    context = await rule.setup(cast)
    without = await partners.narrowed(
        cast.world.council, scope=" ".join(s for s in SCOPES if s != scope)
    )
    before = await _state(cast)
    answer = await rule.graphql(cast, without, context)
    assert answer.codes == ["FORBIDDEN"], answer.body
    extensions = answer.errors[0]["extensions"]
    assert (extensions["type"], extensions["requiredScope"]) == ("insufficient-scope", scope)
    assert scope in answer.errors[0]["message"]
    assert await _state(cast) == before


async def test_no_token_or_a_revoked_client_is_unauthenticated(partners: PartnerFactory) -> None:
    cast = await _cast(partners)
    query = "query($id: ID!) { viewer { clientId } budget(id: $id) { id } }"
    variables = {"id": cast.world.budget_id}
    for token in (None, "not-a-token"):
        answer = await ask(cast.world.council.client, query, variables, token=token)
        assert answer.codes and set(answer.codes) == {"UNAUTHENTICATED"}
        assert answer.body["data"] is None
    async with partners.app.state.sessionmaker() as session, session.begin():
        await revoke_client(session, cast.world.council.client_id)
    revoked = await as_partner(cast.world.council, query, **variables)
    assert revoked.codes and set(revoked.codes) == {"UNAUTHENTICATED"}
    assert "revoked" in revoked.errors[0]["message"]
