"""GraphQL limits: an operation over one is refused with a coded error before any resolver runs.

The endpoint tests send documents over HTTP to the service's own /graphql, with a council's
token: every request to it goes through the limits. The default limits are checked against
the documents front-ends send (a caseload page, the README's tour). The cost formula's own
tests measure documents on a stand-in schema (tests/graphql/standin.py), whose page sizes
the real schema does not have.
"""

import re
import threading
from pathlib import Path
from typing import Any

import pytest
import strawberry
from fastapi import FastAPI
from graphql import get_introspection_query, parse
from strawberry.extensions import ValidationCache

from schema.app import build_schema
from schema.limits import (
    DEFAULT_PAGE_SIZE,
    LIST_LENGTH,
    Measure,
    limit_extensions,
    limits_from,
    measure_operations,
    refusals,
)
from service.config import Settings
from tests.graphql import standin
from tests.graphql.client import PATH, Answer, as_partner
from tests.graphql.conftest import served_schema
from tests.graphql.documents import BUDGET, BUDGET_UPDATED, CASELOAD
from tests.graphql.endpoint import ResolvedFields
from tests.graphql.standin import standin_schema
from tests.partners import PartnerFactory
from tests.world import World, created, make_world, spend_body

README = Path(__file__).resolve().parents[2] / "README.md"
# Two lists of 100 nested, asking for no more than ids: 100 budgets, 10,000 spends.
NESTED_HUNDREDS = """
query Everything($first: Int = 100) {
  budgets(first: $first) { edges { node { spends(first: $first) { edges { node { id } } } } } }
}
"""


@pytest.fixture
async def world(partners: PartnerFactory) -> World:
    """A budget with a spend, so a caseload page reads down to its spends' lines."""
    world = await make_world(partners)
    await created(await world.council.post(world.budget_path("/spends"), spend_body(1_000)))
    return world


async def ask(world: World, query: str, **variables: Any) -> Answer:
    """POST one operation as the council; GraphQL answers 200 even when it refuses it."""
    answer = await as_partner(world.council, query, **variables)
    assert answer.response.status_code == 200, answer.response.text
    return answer


def refusal(answer: Answer) -> dict[str, Any]:
    """The one error of a refused operation, which returned no data."""
    assert answer.body.get("data") is None, answer.body
    [error] = answer.errors
    extensions: dict[str, Any] = error["extensions"]
    return {"message": error["message"], **extensions}


def _path(length: int, budget_id: str) -> list[str]:
    """Fields down from a budget: its spends, their edges, a spend, its budget, its spends..."""
    cycle = ["spends(first: 1)", "edges", "node", "budget"]
    return [f'budget(id: "{budget_id}")'] + [cycle[n % len(cycle)] for n in range(length - 1)]


def _select(fields: list[str], inner: str) -> str:
    """`inner` selected at the end of the fields, each in the one before."""
    return " { ".join([*fields, inner]) + " }" * len(fields)


def nested(depth: int, budget_id: str = "b1") -> str:
    """A query whose longest path has `depth` fields."""
    return "{ " + _select(_path(depth - 1, budget_id), "__typename") + " }"


def nested_in_fragment(depth: int, budget_id: str) -> str:
    """The same query, its path continued in a fragment spread on the first spend."""
    fields = _path(depth - 1, budget_id)
    head, tail = fields[:4], fields[4:]  # budget, spends, edges, node: a Spend
    fragment = "fragment Inner on Spend { " + _select(tail, "__typename") + " }"
    return "{ " + _select(head, "...Inner") + " }\n" + fragment


# --- the endpoint: what passes ------------------------------------------------------------------


async def test_a_caseload_page_passes(world: World, resolved: ResolvedFields) -> None:
    answer = await ask(world, CASELOAD)  # a page of 50: the cost counts the page asked for

    [budget] = answer.data["budgets"]["edges"]
    assert budget["node"]["spends"]["edges"][0]["node"]["lines"]
    assert "Line.reason" in resolved.names  # the recorder sees resolvers when they run


# --- the endpoint: refusals, each before any resolver -------------------------------------------


async def test_two_lists_of_a_hundred_nested_are_too_costly(
    world: World, resolved: ResolvedFields, settings: Settings
) -> None:
    error = refusal(await ask(world, NESTED_HUNDREDS))

    assert error["code"] == "QUERY_TOO_COMPLEX"
    assert error["maxCost"] == settings.graphql_max_cost < error["cost"]
    assert f"{error['cost']:,}" in error["message"]
    assert f"the limit is {settings.graphql_max_cost:,}" in error["message"]
    assert error["message"].startswith("Operation 'Everything' ")
    assert resolved.names == []


async def test_the_cost_reads_page_sizes_from_variables(
    world: World, resolved: ResolvedFields
) -> None:
    small = await ask(world, NESTED_HUNDREDS, first=10)
    assert small.data["budgets"]["edges"]
    resolved.names.clear()

    error = refusal(await ask(world, NESTED_HUNDREDS, first=200))

    assert error["code"] == "QUERY_TOO_COMPLEX"
    assert resolved.names == []


async def test_too_deep_is_refused_also_through_fragments(
    world: World, resolved: ResolvedFields, settings: Settings
) -> None:
    deepest = settings.graphql_max_depth
    assert (await ask(world, nested(deepest, world.budget_id))).data["budget"]
    resolved.names.clear()

    for query in (
        nested(deepest + 1, world.budget_id),
        nested_in_fragment(deepest + 1, world.budget_id),
    ):
        error = refusal(await ask(world, query))

        assert error["code"] == "QUERY_TOO_DEEP", query
        assert (error["depth"], error["maxDepth"]) == (deepest + 1, deepest)
        assert f"{deepest + 1} deep; the limit is {deepest}" in error["message"]
    assert resolved.names == []


async def test_too_many_aliases_are_refused_also_through_fragments(
    world: World, resolved: ResolvedFields, settings: Settings
) -> None:
    most = settings.graphql_max_aliases
    budget = f'budget(id: "{world.budget_id}")'
    fields = " ".join(f"a{number}: id" for number in range(most))
    assert (await ask(world, f"{{ {budget} {{ {fields} }} }}")).data["budget"]
    resolved.names.clear()
    # Each spread of a fragment brings its aliases again: three budgets, a third of the limit each.
    third = " ".join(f"a{number}: id" for number in range(most // 3 + 1))
    spread = " ".join(f"b{number}: {budget} {{ ...Names }}" for number in range(3))
    inline = f"{{ {budget} {{ {fields} extra: id }} }}"
    through_fragments = f"{{ {spread} }}\nfragment Names on Budget {{ {third} }}"

    for query, count in ((inline, most + 1), (through_fragments, 3 + 3 * (most // 3 + 1))):
        error = refusal(await ask(world, query))

        assert error["code"] == "TOO_MANY_ALIASES", query
        assert (error["aliases"], error["maxAliases"]) == (count, most)
    assert resolved.names == []


async def test_too_many_tokens_are_refused_comments_included(
    world: World, resolved: ResolvedFields, settings: Settings
) -> None:
    most = settings.graphql_max_tokens
    comment = "# a comment is a token too\n"
    assert (await ask(world, comment * (most - 3) + "{ __typename }")).data
    resolved.names.clear()
    comments = comment * (most - 2) + "{ __typename }"
    fields = "{ budgets { edges { " + "cursor " * (most - 7) + "} } }"  # 8 tokens around

    for query in (fields, comments):
        error = refusal(await ask(world, query))

        assert error["code"] == "TOO_MANY_TOKENS"
        assert error["maxTokens"] == most
        assert f"more than {most} tokens" in error["message"]
    assert resolved.names == []


def test_fragments_spread_twice_at_every_level_are_measured_in_no_time(
    app: FastAPI, resolved: ResolvedFields
) -> None:
    # 2^40 spreads of F0 in a few hundred bytes: a walk that follows every spread never ends
    # (Strawberry's QueryDepthLimiter and MaxAliasesLimiter take seconds at 2^18).
    fragments = ["fragment F0 on Budget { streams { allocated } }"] + [
        f"fragment F{level} on Budget {{ ...F{level - 1} ...F{level - 1} }}"
        for level in range(1, 41)
    ]
    query = '{ budget(id: "b1") { ...F40 } }\n' + "\n".join(fragments)
    answers: list[Any] = []
    schema = served_schema(app)
    worker = threading.Thread(
        target=lambda: answers.append(schema.execute_sync(query)), daemon=True
    )

    worker.start()
    worker.join(timeout=10)

    assert answers, "measuring the fragments took over 10 s"
    [error] = answers[0].errors
    assert error.extensions["code"] == "QUERY_TOO_COMPLEX"
    assert resolved.names == []


async def test_a_batch_of_operations_is_refused(world: World, resolved: ResolvedFields) -> None:
    # Batching is off: operations in one request would share its context (and its transaction).
    batch = [{"query": "{ viewer { clientId } }"}] * 2

    response = await world.council.client.post(PATH, json=batch, headers=world.council.headers)

    assert response.status_code == 400
    assert response.text == "Batching is not enabled"
    assert resolved.names == []


async def test_the_limits_come_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEBUDGET_GRAPHQL_MAX_COST", "100")
    monkeypatch.setenv("ONEBUDGET_GRAPHQL_MAX_DEPTH", "3")
    schema = build_schema(Settings(data_dir=settings.data_dir))

    errors = (await schema.execute("{ budgets(first: 60) { edges { node { id } } } }")).errors

    assert errors is not None
    codes = {error.extensions["code"]: error.extensions for error in errors}
    assert codes["QUERY_TOO_COMPLEX"]["maxCost"] == 100
    assert codes["QUERY_TOO_DEEP"]["maxDepth"] == 3


def test_fragments_spread_thousands_deep_are_refused_as_too_deep(settings: Settings) -> None:
    # Only a token limit raised far above the default lets such a chain through the parser.
    schema = build_schema(Settings(data_dir=settings.data_dir, graphql_max_tokens=50_000))
    chain = [f"fragment F{n} on Budget {{ ...F{n + 1} }}" for n in range(3000)]
    query = (
        '{ budget(id: "b1") { ...F0 } }\n' + "\n".join(chain) + "\nfragment F3000 on Budget { id }"
    )

    [error] = schema.execute_sync(query).errors or []

    assert error.extensions["code"] == "QUERY_TOO_DEEP"
    assert "nest too deeply to measure" in error.message


# --- the default limits, against what front-ends send -------------------------------------------


def measure(query: str, variables: dict[str, Any] | None = None, *, real: bool = True) -> Measure:
    """The measure of a one-operation document on the real schema (or the stand-in)."""
    schema = build_schema() if real else standin_schema(Settings())
    [(_, measured)] = measure_operations(schema._schema, parse(query), variables)
    return measured


def readme_documents() -> list[str]:
    """Each GraphQL document the README's tour sends (`gql '...'`, `live '...'`)."""
    found = re.findall(r"^(?:gql|live) '([^']*)'", README.read_text(), flags=re.MULTILINE)
    assert len(found) >= 6, "the README's GraphQL tour has moved: update this pattern"
    return found


@pytest.mark.parametrize(
    "document", [CASELOAD, BUDGET, BUDGET_UPDATED, get_introspection_query(descriptions=True)]
)
def test_what_front_ends_send_is_within_the_default_limits(document: str) -> None:
    # The introspection query is what GraphiQL and schemathesis send.
    limits = limits_from(Settings())
    for operation, measured in measure_operations(build_schema()._schema, parse(document), None):
        assert refusals(limits, operation, measured) == [], measured


def test_the_readme_s_documents_are_within_the_default_limits() -> None:
    limits = limits_from(Settings())
    for document in readme_documents():
        [(operation, measured)] = measure_operations(build_schema()._schema, parse(document), None)
        assert refusals(limits, operation, measured) == [], document


def test_a_caseload_page_costs_under_two_thirds_of_the_limit() -> None:
    caseload = measure(CASELOAD)

    # Per budget: itself, person, totals, 5 streams (each with its stream), and spends: the
    # connection, its pageInfo and 10 edges, each with a spend and 5 lines of 2 objects each.
    per_budget = 3 + 5 * 2 + (2 + 10 * (2 + 5 * 3))
    assert caseload == Measure(depth=9, aliases=0, cost=1 + 1 + 50 * (1 + per_budget))
    assert caseload.cost < Settings().graphql_max_cost * 2 / 3
    assert measure(NESTED_HUNDREDS).cost == 1 + 100 * (2 + 1 + 100 * 2)


def test_depth_counts_fields_and_leaves_introspection_out() -> None:
    assert measure("{ budgets { edges { cursor } } }").depth == 3
    assert measure(nested(7)).depth == 7
    assert measure(get_introspection_query()).depth == 0
    assert measure(get_introspection_query()).cost > 0


# --- the cost formula, on the stand-in schema ---------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        # Scalars are free; an object costs 1.
        ('{ budget(id: "b1") { id currency totals { spent } } }', None, 2),
        # A connection: itself, then each item of its page (edge and node).
        ("{ budgets(first: 7) { edges { node { id } } } }", None, 1 + 7 * 2),
        ("{ budgets(last: 7) { edges { node { id } } } }", None, 1 + 7 * 2),
        ("{ budgets(first: 3, last: 7) { edges { node { id } } } }", None, 1 + 7 * 2),
        ("{ budgets(first: 0) { edges { node { id } } } }", None, 1 + 1 * 2),
        # No first: the argument's default in the schema (spends: 10), else DEFAULT_PAGE_SIZE.
        ('{ budget(id: "b1") { spends { edges { node { id } } } } }', None, 1 + 1 + 10 * 2),
        ("{ budgets { edges { node { id } } } }", None, 1 + DEFAULT_PAGE_SIZE * 2),
        # From a variable, else the variable's default.
        ("query($n: Int) { budgets(first: $n) { edges { cursor } } }", {"n": 9}, 1 + 9),
        ("query($n: Int = 4) { budgets(first: $n) { edges { cursor } } }", None, 1 + 4),
        ("query($n: Int) { budgets(first: $n) { edges { cursor } } }", None, 1 + 50),
        # A plain list is taken to have LIST_LENGTH items; a page's list is not multiplied again.
        ('{ budget(id: "b1") { streams { stream { id } } } }', None, 1 + LIST_LENGTH * 2),
        ("{ budgets(first: 2) { edges { node { streams { spent } } } } }", None, 1 + 2 * 7),
        # A fragment counts at each spread, with the page it is spread in.
        (
            "{ budgets(first: 2) { ...Page } b: budgets(first: 3) { ...Page } }"
            " fragment Page on BudgetConnection { edges { cursor } }",
            None,
            (1 + 2) + (1 + 3),
        ),
    ],
)
def test_the_cost_counts_objects_and_list_items(
    query: str, variables: dict[str, Any] | None, cost: int
) -> None:
    assert measure(query, variables, real=False).cost == cost


async def test_the_limits_hold_behind_strawberrys_validation_cache(settings: Settings) -> None:
    # ValidationCache sets the errors of validation (none) before the limits are measured.
    schema = strawberry.Schema(
        standin.Query, extensions=[ValidationCache, *limit_extensions(settings)]
    )

    [error] = (await schema.execute(NESTED_HUNDREDS)).errors or []

    assert error.extensions["code"] == "QUERY_TOO_COMPLEX"
