"""A matrix over every write route, generated from the app's route table.

Every POST, PUT, PATCH and DELETE under /v1 (tests/write_routes.py walks the app) gets the
cases below; a route without a recipe in RECIPES fails them all ("no recipe for ...").
Every recipe acts as the lead agency (the council) of a make_world budget.

Keyed writes (Idempotency-Key, required or optional):
- the same key and body twice: the same bytes, marked Idempotent-Replayed, written once;
- the same key with another body, or first used on another route: 422, nothing changed;
- two clients of one agency using the same key stay apart: both write.
PATCH writes take If-Match instead: a stale one is 412 and changes nothing.
Every write: a token without the route's scope is 403 insufficient-scope, a garbage,
badly signed or expired one 401 invalid_token, and neither changes anything. Who may make
each write by role is tests/api/test_access.py, which checks that it covers every route.
"""

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import text

from service.auth.caller import SCOPES
from service.auth.tokens import issue_access_token, key_id
from service.idempotency.guard import KEY_HEADER, REPLAY_HEADER
from service.models_base import METADATA
from tests.partners import ALL_SCOPES, Partner, PartnerFactory
from tests.world import (
    World,
    commitment_body,
    created,
    make_dead_letter,
    make_world,
    spend_body,
)
from tests.write_routes import WRITE_METHODS, WRITE_ROUTES, WriteRoute, write_routes

Context = dict[str, Any]
Setup = Callable[[World, PartnerFactory], Awaitable[Context]]
Body = Callable[[World, Context], dict[str, Any] | None]
Path = Callable[[World, Context], str]


async def _nothing(world: World, partners: PartnerFactory) -> Context:
    """No set-up: the world is enough."""
    return {}


def _no_body(world: World, context: Context) -> None:
    """The write takes no body."""
    return None


@dataclass(frozen=True)
class Recipe:
    """How the lead makes one write: what it sets up first, the path, the body."""

    scope: str  # the scope the route must demand, stated here apart from the route itself
    path: Path
    body: Body = _no_body
    other_body: Body | None = None  # another valid body, for "same key, another body"
    setup: Setup = _nothing


def _on_budget(tail: str) -> Path:
    """/v1/budgets/{the world's budget}{tail}."""
    return lambda world, context: world.budget_path(tail)


def _on(template: str) -> Path:
    """A path naming the set-up object, e.g. "/v1/spends/{id}/reverse"."""
    return lambda world, context: template.format(**context)


def _fixed(path: str) -> Path:
    """The same path whatever was set up."""
    return lambda world, context: path


# Set-ups: each returns what the path and body name; run twice, it gives two objects.


async def _made(world: World, tail: str, body: dict[str, Any]) -> Context:
    """{"id": ...} of what the lead creates by POSTing `body` to the budget's `tail`."""
    return {"id": (await created(await world.council.post(world.budget_path(tail), body)))["id"]}


async def _stream_name(world: World, partners: PartnerFactory) -> Context:
    """A name no stream has yet."""
    return {"name": f"Stream {uuid.uuid4().hex[:8]}"}


async def _reference(world: World, partners: PartnerFactory) -> Context:
    """A reference no person has yet."""
    return {"reference": f"P-{uuid.uuid4().hex[:8]}"}


async def _person(world: World, partners: PartnerFactory) -> Context:
    """A person the council registers, with no budget yet."""
    body = {"reference": f"P-{uuid.uuid4().hex[:8]}", "name": "Ali", "date_of_birth": "1990-02-03"}
    return {"person_id": (await created(await world.council.post("/v1/people", body)))["id"]}


async def _two_agencies(world: World, partners: PartnerFactory) -> Context:
    """Two agencies not yet on the budget."""
    agency, other = (await partners.register(kind="health")), (await partners.register())
    return {"agency_id": str(agency[0]), "other_agency_id": str(other[0])}


async def _indicative(world: World, partners: PartnerFactory) -> Context:
    """An indicative allocation of the council's care stream."""
    body = {"stream_id": world.care_stream, "amount": 1_000, "status": "indicative"}
    return await _made(world, "/allocations", body)


async def _spend(world: World, partners: PartnerFactory) -> Context:
    """A posted spend of £10."""
    return await _made(world, "/spends", spend_body(1_000))


async def _commitment(world: World, partners: PartnerFactory) -> Context:
    """£10 held for booked support."""
    return await _made(world, "/commitments", commitment_body(1_000))


async def _care_needs_approval(world: World) -> None:
    """The council's care stream asks the council's approval for anything over £1."""
    path = f"/v1/streams/{world.care_stream}"
    current = await world.council.get(path)
    if current.json()["approval_threshold_amount"] != 100:
        etag = current.headers["etag"]
        changed = await world.council.patch(
            path, {"approval_threshold_amount": 100}, headers={"If-Match": etag}
        )
        assert changed.status_code == 200, changed.text


async def _awaiting_spend(world: World, partners: PartnerFactory) -> Context:
    """A spend whose care line awaits the council's own approval."""
    await _care_needs_approval(world)
    context = await _spend(world, partners)
    spend = await world.council.get(f"/v1/spends/{context['id']}")
    assert spend.json()["status"] == "pending_approval", spend.text
    return context


async def _awaiting_commitment(world: World, partners: PartnerFactory) -> Context:
    """Held money whose care line awaits the council's own approval."""
    await _care_needs_approval(world)
    context = await _commitment(world, partners)
    commitment = await world.council.get(f"/v1/commitments/{context['id']}")
    assert commitment.json()["status"] == "pending_approval", commitment.text
    return context


async def _dead_letter(world: World, partners: PartnerFactory) -> Context:
    """A record the council's system sent that could not be used."""
    return {"id": await make_dead_letter(partners.app, world)}


async def _hook_url(world: World, partners: PartnerFactory) -> Context:
    """A loopback URL no endpoint has yet (the test settings allow loopback)."""
    return {"url": f"http://127.0.0.1:9/hooks/{uuid.uuid4().hex[:8]}"}


async def _webhook_endpoint(world: World, partners: PartnerFactory) -> Context:
    """A webhook endpoint of the council."""
    body = {"url": (await _hook_url(world, partners))["url"]}
    return {"id": (await created(await world.council.post(WEBHOOK_ENDPOINTS, body)))["id"]}


def _stream(name: str) -> dict[str, Any]:
    """A flexible care stream called `name`."""
    return {"name": name, "kind": "social_care", "unspent": "carry_forward"}


def _budget(person_id: str, deployment: str) -> dict[str, Any]:
    """A budget for the person's next year."""
    return {
        "person_id": person_id,
        "starts_on": "2027-04-01",
        "ends_on": "2028-03-31",
        "currency": "GBP",
        "deployment": deployment,
    }


def _allocation(world: World, amount: int) -> dict[str, Any]:
    """A confirmed allocation from the council's care stream."""
    return {"stream_id": world.care_stream, "amount": amount, "status": "confirmed"}


WEBHOOK_ENDPOINTS = "/v1/webhook-endpoints"
SPENDS = "POST /v1/budgets/{budget_id}/spends"
COMMITMENTS = "POST /v1/budgets/{budget_id}/commitments"
POST_HELD = "POST /v1/commitments/{commitment_id}/post"
VOID_HELD = "POST /v1/commitments/{commitment_id}/void"

# One recipe per write route, named as the route table names it.
RECIPES: dict[str, Recipe] = {
    "POST /v1/streams": Recipe(
        "streams:write",
        _fixed("/v1/streams"),
        lambda w, c: _stream(c["name"]),
        lambda w, c: _stream(c["name"] + " (other)"),
        _stream_name,
    ),
    "PATCH /v1/streams/{stream_id}": Recipe(
        "streams:write",
        lambda w, c: f"/v1/streams/{w.care_stream}",
        lambda w, c: {"name": "Care, renamed"},
        lambda w, c: {"name": "Care, renamed again"},
    ),
    "POST /v1/people": Recipe(
        "people:write",
        _fixed("/v1/people"),
        lambda w, c: {"reference": c["reference"], "name": "Ali", "date_of_birth": "1990-02-03"},
        lambda w, c: {"reference": c["reference"], "name": "Alia", "date_of_birth": "1990-02-03"},
        _reference,
    ),
    "PATCH /v1/people/{person_id}": Recipe(
        "people:write",
        lambda w, c: f"/v1/people/{w.person_id}",
        lambda w, c: {"name": "Sam, renamed"},
        lambda w, c: {"name": "Sam, renamed again"},
    ),
    "POST /v1/budgets": Recipe(
        "budgets:write",
        _fixed("/v1/budgets"),
        lambda w, c: _budget(c["person_id"], "managed"),
        lambda w, c: _budget(c["person_id"], "mixed"),
        _person,
    ),
    "PATCH /v1/budgets/{budget_id}": Recipe(
        "budgets:write",
        _on_budget(""),
        lambda w, c: {"deployment": "mixed"},
        lambda w, c: {"deployment": "managed"},
    ),
    "POST /v1/budgets/{budget_id}/funders": Recipe(
        "budgets:write",
        _on_budget("/funders"),
        lambda w, c: {"agency_id": c["agency_id"]},
        lambda w, c: {"agency_id": c["other_agency_id"]},
        _two_agencies,
    ),
    "POST /v1/budgets/{budget_id}/allocations": Recipe(
        "allocations:write",
        _on_budget("/allocations"),
        lambda w, c: _allocation(w, 1_000),
        lambda w, c: _allocation(w, 2_000),
    ),
    "POST /v1/allocations/{allocation_id}/confirm": Recipe(
        "allocations:write", _on("/v1/allocations/{id}/confirm"), setup=_indicative
    ),
    "POST /v1/allocations/{allocation_id}/adjustments": Recipe(
        "allocations:write",
        _on("/v1/allocations/{id}/adjustments"),
        lambda w, c: {"amount": 1_500, "reason": "Award amended"},
        lambda w, c: {"amount": 500, "reason": "Award amended"},
        _indicative,
    ),
    SPENDS: Recipe(
        "spends:write",
        _on_budget("/spends"),
        lambda w, c: spend_body(1_000),
        lambda w, c: spend_body(2_000),
    ),
    "POST /v1/spends/{spend_id}/approve": Recipe(
        "spends:approve", _on("/v1/spends/{id}/approve"), setup=_awaiting_spend
    ),
    "POST /v1/spends/{spend_id}/reject": Recipe(
        "spends:approve", _on("/v1/spends/{id}/reject"), setup=_awaiting_spend
    ),
    "POST /v1/spends/{spend_id}/reverse": Recipe(
        "spends:write", _on("/v1/spends/{id}/reverse"), setup=_spend
    ),
    COMMITMENTS: Recipe(
        "spends:write",
        _on_budget("/commitments"),
        lambda w, c: commitment_body(1_000),
        lambda w, c: commitment_body(2_000),
    ),
    POST_HELD: Recipe(
        "spends:write",
        _on("/v1/commitments/{id}/post"),
        other_body=lambda w, c: {"amount": 500},
        setup=_commitment,
    ),
    VOID_HELD: Recipe("spends:write", _on("/v1/commitments/{id}/void"), setup=_commitment),
    "POST /v1/commitments/{commitment_id}/approve": Recipe(
        "spends:approve", _on("/v1/commitments/{id}/approve"), setup=_awaiting_commitment
    ),
    "POST /v1/commitments/{commitment_id}/reject": Recipe(
        "spends:approve", _on("/v1/commitments/{id}/reject"), setup=_awaiting_commitment
    ),
    "POST /v1/dead-letters/{dead_letter_id}/replay": Recipe(
        "syncs:write", _on("/v1/dead-letters/{id}/replay"), setup=_dead_letter
    ),
    "POST /v1/webhook-endpoints": Recipe(
        "webhooks:write",
        _fixed(WEBHOOK_ENDPOINTS),
        lambda w, c: {"url": c["url"]},
        lambda w, c: {"url": c["url"], "events": ["spend.posted"]},
        _hook_url,
    ),
    "DELETE /v1/webhook-endpoints/{endpoint_id}": Recipe(
        "webhooks:write", _on(WEBHOOK_ENDPOINTS + "/{id}"), setup=_webhook_endpoint
    ),
}


def _recipe(route: WriteRoute) -> Recipe:
    """The route's recipe; a route added without one fails here, saying what to do."""
    recipe = RECIPES.get(route.name)
    if recipe is None:
        pytest.fail(
            f"no recipe for {route.name}: add one to RECIPES in tests/api/test_write_matrix.py"
            " (and its role rule to RULES in tests/api/test_access.py)",
            pytrace=False,
        )
    return recipe


def _donor(route: WriteRoute) -> str:
    """Another route to use a key on first: with no body, a route whose body is empty too."""
    if route.name == SPENDS:
        return COMMITMENTS
    if RECIPES[route.name].body is _no_body:
        return POST_HELD if route.name == VOID_HELD else VOID_HELD
    return SPENDS


SAME: Any = object()  # "the recipe's own body"


async def _send(
    caller: Partner,
    route: WriteRoute,
    world: World,
    context: Context,
    *,
    key: str | None = None,
    body: Any = SAME,
    if_match: str | None = None,
) -> httpx.Response:
    """Make the route's write as `caller`: PATCH with If-Match (the current one by default)."""
    recipe = _recipe(route)
    path = recipe.path(world, context)
    headers = dict(caller.headers)
    if key is not None:
        headers[KEY_HEADER] = key
    if route.method == "PATCH":
        headers["If-Match"] = if_match or (await world.council.get(path)).headers["etag"]
    payload = recipe.body(world, context) if body is SAME else body
    return await caller.client.request(route.method, path, json=payload, headers=headers)


def _assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["type"].rsplit("/", 1)[1] == slug, problem
    return problem


def _assert_key_reused(response: httpx.Response) -> None:
    """The key was refused as used for another request, and nothing was replayed."""
    problem = _assert_problem(response, 422, "unprocessable")
    assert problem["title"] == "Idempotency-Key reused", problem
    assert REPLAY_HEADER not in response.headers


async def _tables(app: FastAPI) -> dict[str, str]:
    """A digest of every table's rows: any write anywhere changes one."""
    digests = " UNION ALL ".join(
        f"SELECT '{table.name}', md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f' FROM "{table.name}" t'
        for table in METADATA.sorted_tables
    )
    async with app.state.sessionmaker() as session:
        return dict((await session.execute(text(digests))).all())


@dataclass(frozen=True)
class State:
    """What a write may change, as the lead sees it through the API, and every table."""

    totals: dict[str, int]
    seen: tuple[Any, ...]
    tables: dict[str, str]


async def _state(world: World, app: FastAPI) -> State:
    """The budget (money, streams, ETag), the person, the budget's lists, and every table."""
    council = world.council
    budget = await council.get(world.budget_path())
    person = await council.get(f"/v1/people/{world.person_id}")
    spends = await council.get(world.budget_path("/spends"))
    commitments = await council.get(world.budget_path("/commitments"))
    seen = (
        budget.json(),
        budget.headers["etag"],
        person.json(),
        person.headers["etag"],
        spends.json(),
        commitments.json(),
    )
    return State(budget.json()["totals"], seen, await _tables(app))


def _moved(before: State, after: State) -> dict[str, int]:
    """How much each of the budget's totals moved."""
    return {name: after.totals[name] - before.totals[name] for name in before.totals}


@dataclass(frozen=True)
class _Subject:
    """What a token is issued for, as tokens.py needs it."""

    id: uuid.UUID
    client_id: str
    agency_id: uuid.UUID


def _bad_tokens(app: FastAPI, partner: Partner) -> dict[str, str]:
    """A garbage token, one signed by another key, and one signed by ours but expired."""
    ours: ECKey = app.state.signing_key
    claims = jwt.decode(partner.token, ours).claims
    subject = _Subject(
        uuid.UUID(claims["cid"]), claims["client_id"], uuid.UUID(claims["agency_id"])
    )
    stranger = ECKey.generate_key("P-256", private=True)
    # The stranger's key claims our kid, so the signature is all that is wrong.
    stranger = ECKey.import_key({**stranger.as_dict(private=True), "kid": key_id(ours)})
    settings = app.state.settings

    def mint(key: ECKey, now: int) -> str:
        return issue_access_token(
            key=key,
            issuer=settings.token_issuer,
            audience=settings.audience,
            client=subject,
            scope=ALL_SCOPES,
            lifetime_seconds=60,
            now=now,
        )

    now = int(time.time())
    return {
        "garbage": "not-a-token",
        "wrong signature": mint(stranger, now),
        "expired": mint(ours, now - 3_600),
    }


def _routes(keep: Callable[[WriteRoute], bool]) -> list[Any]:
    """The write routes to generate a case for, each named by its route."""
    return [pytest.param(route, id=route.name) for route in WRITE_ROUTES if keep(route)]


EVERY = _routes(lambda route: True)
KEYED = _routes(lambda route: route.method != "PATCH")
PRECONDITIONED = _routes(lambda route: route.method == "PATCH")


def test_every_write_route_has_a_recipe_and_every_recipe_a_route() -> None:
    routes = {route.name for route in WRITE_ROUTES}
    missing = sorted(routes - set(RECIPES))
    assert not missing, f"no recipe for {', '.join(missing)}: add one to RECIPES"
    assert not set(RECIPES) - routes, "recipes for routes the app no longer has"


def test_the_walk_finds_every_write_the_document_lists(app: FastAPI) -> None:
    documented = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if path.startswith("/v1/") and method.upper() in WRITE_METHODS
    }
    walked = {route.name for route in WRITE_ROUTES}
    assert documented <= walked, f"the walk missed {sorted(documented - walked)}"
    assert {route.name for route in write_routes(app)} == walked  # the app under test too


@pytest.mark.parametrize("route", KEYED)
async def test_a_replay_answers_the_same_bytes_and_writes_once(
    partners: PartnerFactory, route: WriteRoute
) -> None:
    recipe = _recipe(route)
    world = await make_world(partners)
    context = await recipe.setup(world, partners)
    before = await _state(world, partners.app)
    if route.key_required:
        _assert_problem(
            await _send(world.council, route, world, context), 400, "idempotency-key-missing"
        )
        assert await _state(world, partners.app) == before
    key = uuid.uuid4().hex
    first = await _send(world.council, route, world, context, key=key)
    assert first.status_code in (200, 201), first.text
    assert REPLAY_HEADER not in first.headers
    after_first = await _state(world, partners.app)
    again = await _send(world.council, route, world, context, key=key)
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers.get(REPLAY_HEADER) == "true"
    assert again.headers.get("etag") == first.headers.get("etag")
    assert await _state(world, partners.app) == after_first  # written once, money moved once


@pytest.mark.parametrize("route", KEYED)
async def test_the_same_key_with_another_body_is_refused(
    partners: PartnerFactory, route: WriteRoute
) -> None:
    recipe = _recipe(route)
    if not route.takes_body:
        pytest.skip(f"{route.name} takes no body")
    assert recipe.other_body is not None, f"the recipe for {route.name} needs an other_body"
    world = await make_world(partners)
    context = await recipe.setup(world, partners)
    key = uuid.uuid4().hex
    first = await _send(world.council, route, world, context, key=key)
    assert first.status_code in (200, 201), first.text
    before = await _state(world, partners.app)
    other = recipe.other_body(world, context)
    _assert_key_reused(await _send(world.council, route, world, context, key=key, body=other))
    assert await _state(world, partners.app) == before


@pytest.mark.parametrize("route", KEYED)
async def test_a_key_first_used_on_another_route_is_refused(
    partners: PartnerFactory, route: WriteRoute
) -> None:
    recipe = _recipe(route)
    donor = next(other for other in WRITE_ROUTES if other.name == _donor(route))
    world = await make_world(partners)
    donor_context = await _recipe(donor).setup(world, partners)
    context = await recipe.setup(world, partners)
    key = uuid.uuid4().hex
    first = await _send(world.council, donor, world, donor_context, key=key)
    assert first.status_code in (200, 201), first.text
    before = await _state(world, partners.app)
    _assert_key_reused(await _send(world.council, route, world, context, key=key))
    assert await _state(world, partners.app) == before


@pytest.mark.parametrize("route", KEYED)
async def test_two_clients_of_one_agency_sharing_a_key_both_write(
    partners: PartnerFactory, route: WriteRoute
) -> None:
    recipe = _recipe(route)
    world = await make_world(partners)
    contexts = [await recipe.setup(world, partners), await recipe.setup(world, partners)]
    second_system = await partners.another_client(world.council)
    key = uuid.uuid4().hex
    start = await _state(world, partners.app)
    first = await _send(world.council, route, world, contexts[0], key=key)
    assert first.status_code in (200, 201), first.text
    middle = await _state(world, partners.app)
    second = await _send(second_system, route, world, contexts[1], key=key)
    assert second.status_code == first.status_code, second.text
    assert REPLAY_HEADER not in second.headers
    assert second.content != first.content  # another object
    end = await _state(world, partners.app)
    assert start != middle != end
    if route.key_required:
        assert _moved(start, middle) == _moved(middle, end)  # money moved twice


@pytest.mark.parametrize("route", EVERY)
async def test_a_token_without_the_routes_scope_is_refused(
    partners: PartnerFactory, route: WriteRoute
) -> None:
    recipe = _recipe(route)
    world = await make_world(partners)
    context = await recipe.setup(world, partners)
    others = " ".join(scope for scope in SCOPES if scope != recipe.scope)
    narrow = await partners.narrowed(world.council, scope=others)
    before = await _state(world, partners.app)
    refused = await _send(narrow, route, world, context, key=uuid.uuid4().hex)
    problem = _assert_problem(refused, 403, "insufficient-scope")
    assert problem["required_scope"] == recipe.scope
    assert "insufficient_scope" in refused.headers["www-authenticate"]
    assert await _state(world, partners.app) == before
    # The route's own dependency (and so its OpenAPI security requirement) names it too.
    assert route.scopes == (recipe.scope,), f"{route.name} demands {route.scopes}"


@pytest.mark.parametrize("route", EVERY)
async def test_a_bad_token_is_refused(partners: PartnerFactory, route: WriteRoute) -> None:
    recipe = _recipe(route)
    world = await make_world(partners)
    context = await recipe.setup(world, partners)
    lead = world.council
    before = await _state(world, partners.app)
    for kind, token in _bad_tokens(partners.app, lead).items():
        caller = Partner(lead.client, lead.agency_id, lead.client_id, lead.client_secret, token)
        refused = await _send(caller, route, world, context, key=uuid.uuid4().hex)
        assert refused.status_code == 401, f"{kind}: {refused.text}"
        assert "invalid_token" in refused.headers.get("www-authenticate", ""), kind
    assert await _state(world, partners.app) == before


@pytest.mark.parametrize("route", PRECONDITIONED)
async def test_a_stale_if_match_is_refused(partners: PartnerFactory, route: WriteRoute) -> None:
    recipe = _recipe(route)
    assert recipe.other_body is not None, f"the recipe for {route.name} needs an other_body"
    world = await make_world(partners)
    context = await recipe.setup(world, partners)
    stale = (await world.council.get(recipe.path(world, context))).headers["etag"]
    changed = await _send(world.council, route, world, context, if_match=stale)
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != stale
    before = await _state(world, partners.app)
    late = await _send(
        world.council, route, world, context, if_match=stale, body=recipe.other_body(world, context)
    )
    _assert_problem(late, 412, "precondition-failed")
    assert await _state(world, partners.app) == before
