"""GraphQL limits: an operation over one is refused with a coded error before any resolver runs.

The endpoint tests run against `schema_under_test` over HTTP (tests/graphql/conftest.py); the
cost formula's own tests measure queries on the stand-in schema, whose shape they rely on.
"""

import threading
from typing import Any

import httpx
import pytest
import strawberry
from graphql import get_introspection_query, parse
from strawberry.extensions import ValidationCache

from schema.limits import (
    DEFAULT_PAGE_SIZE,
    LIST_LENGTH,
    Measure,
    limit_extensions,
    measure_operations,
)
from service.config import Settings
from tests.graphql import standin
from tests.graphql.endpoint import GRAPHQL_PATH, ResolvedFields
from tests.graphql.standin import standin_schema

# A care manager's caseload screen: 50 budgets, each with its streams and last 10 spends.
CASELOAD = """
query Caseload($first: Int = 50) {
  budgets(first: $first) {
    edges { cursor node {
      id person { id reference name } startsOn endsOn currency deployment
      totals { allocated available pending spent returned indicative }
      streams { stream { id name kind } allocated available pending spent returned indicative }
      spends(first: 10) {
        edges { node {
          id status amount category description occurredOn
          lines { stream { id name } agency { id name } amount reason approval }
        } }
        pageInfo { hasNextPage endCursor }
      }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
# Two lists of 100 nested, asking for no more than ids: 100 budgets, 10,000 spends.
NESTED_HUNDREDS = """
query Everything($first: Int = 100) {
  budgets(first: $first) { edges { node { spends(first: $first) { edges { node { id } } } } } }
}
"""


async def ask(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST one operation; GraphQL answers 200 even when it refuses it."""
    response = await client.post(GRAPHQL_PATH, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a refused operation, which returned no data."""
    assert body.get("data") is None, body
    [error] = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return {"message": error["message"], **extensions}


def _path(length: int) -> list[str]:
    """Fields down from a budget: its spends, their edges, a spend, its budget, its spends..."""
    cycle = ["spends(first: 1)", "edges", "node", "budget"]
    return ['budget(id: "b1")'] + [cycle[number % len(cycle)] for number in range(length - 1)]


def _select(fields: list[str], inner: str) -> str:
    """`inner` selected at the end of the fields, each in the one before."""
    return " { ".join([*fields, inner]) + " }" * len(fields)


def nested(depth: int) -> str:
    """A query whose longest path has `depth` fields."""
    return "{ " + _select(_path(depth - 1), "__typename") + " }"


def nested_in_fragment(depth: int) -> str:
    """The same query, its path continued in a fragment spread on the first spend."""
    fields = _path(depth - 1)
    head, tail = fields[:4], fields[4:]  # budget, spends, edges, node: a Spend
    fragment = "fragment Inner on Spend { " + _select(tail, "__typename") + " }"
    return "{ " + _select(head, "...Inner") + " }\n" + fragment


# --- endpoint: what passes ----------------------------------------------------------------------


async def test_a_caseload_page_passes(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields
) -> None:
    body = await ask(graphql_client, CASELOAD)

    assert "errors" not in body, body
    budgets = body["data"]["budgets"]["edges"]
    assert len(budgets) == 50
    assert budgets[0]["node"]["spends"]["edges"][0]["node"]["lines"]
    assert "Spend.lines" in resolved.names  # the recorder sees resolvers when they run


async def test_the_introspection_query_passes(graphql_client: httpx.AsyncClient) -> None:
    # GraphiQL and schemathesis ask for the schema this way.
    body = await ask(graphql_client, get_introspection_query(descriptions=True))

    assert "errors" not in body, body
    assert body["data"]["__schema"]["types"]


# --- endpoint: refusals, each before any resolver -----------------------------------------------


async def test_two_lists_of_a_hundred_nested_are_too_costly(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields, settings: Settings
) -> None:
    error = refusal(await ask(graphql_client, NESTED_HUNDREDS))

    assert error["code"] == "QUERY_TOO_COMPLEX"
    assert error["maxCost"] == settings.graphql_max_cost < error["cost"]
    assert f"{error['cost']:,}" in error["message"]
    assert f"the limit is {settings.graphql_max_cost:,}" in error["message"]
    assert error["message"].startswith("Operation 'Everything' ")
    assert resolved.names == []


async def test_the_cost_reads_page_sizes_from_variables(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields
) -> None:
    small = await ask(graphql_client, NESTED_HUNDREDS, {"first": 10})
    assert "errors" not in small, small
    resolved.names.clear()

    error = refusal(await ask(graphql_client, NESTED_HUNDREDS, {"first": 200}))

    assert error["code"] == "QUERY_TOO_COMPLEX"
    assert resolved.names == []


async def test_too_deep_is_refused_also_through_fragments(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields, settings: Settings
) -> None:
    deepest = settings.graphql_max_depth
    assert "errors" not in await ask(graphql_client, nested(deepest))
    resolved.names.clear()

    for query in (nested(deepest + 1), nested_in_fragment(deepest + 1)):
        error = refusal(await ask(graphql_client, query))

        assert error["code"] == "QUERY_TOO_DEEP", query
        assert (error["depth"], error["maxDepth"]) == (deepest + 1, deepest)
        assert f"{deepest + 1} deep; the limit is {deepest}" in error["message"]
    assert resolved.names == []


async def test_too_many_aliases_are_refused_also_through_fragments(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields, settings: Settings
) -> None:
    most = settings.graphql_max_aliases
    fields = " ".join(f"a{number}: id" for number in range(most))
    assert "errors" not in await ask(graphql_client, f'{{ budget(id: "b1") {{ {fields} }} }}')
    resolved.names.clear()
    # Each spread of a fragment brings its aliases again: three budgets, a third of the limit each.
    third = " ".join(f"a{number}: id" for number in range(most // 3 + 1))
    spread = " ".join(f'b{number}: budget(id: "b{number}") {{ ...Names }}' for number in range(3))
    inline = f'{{ budget(id: "b1") {{ {fields} extra: id }} }}'
    through_fragments = f"{{ {spread} }}\nfragment Names on Budget {{ {third} }}"

    for query, count in ((inline, most + 1), (through_fragments, 3 + 3 * (most // 3 + 1))):
        error = refusal(await ask(graphql_client, query))

        assert error["code"] == "TOO_MANY_ALIASES", query
        assert (error["aliases"], error["maxAliases"]) == (count, most)
    assert resolved.names == []


async def test_too_many_tokens_are_refused_comments_included(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields, settings: Settings
) -> None:
    most = settings.graphql_max_tokens
    comment = "# a comment is a token too\n"
    assert "errors" not in await ask(graphql_client, comment * (most - 3) + "{ __typename }")
    resolved.names.clear()
    comments = comment * (most - 2) + "{ __typename }"
    fields = "{ budgets { edges { " + "cursor " * (most - 7) + "} } }"  # 8 tokens around

    for query in (fields, comments):
        error = refusal(await ask(graphql_client, query))

        assert error["code"] == "TOO_MANY_TOKENS"
        assert error["maxTokens"] == most
        assert f"more than {most} tokens" in error["message"]
    assert resolved.names == []


def test_fragments_spread_twice_at_every_level_are_measured_in_no_time(
    schema_under_test: strawberry.Schema, resolved: ResolvedFields
) -> None:
    # 2^40 spreads of F0 in a few hundred bytes: a walk that follows every spread never ends
    # (Strawberry's QueryDepthLimiter and MaxAliasesLimiter take seconds at 2^18).
    fragments = ["fragment F0 on Budget { streams { allocated } }"] + [
        f"fragment F{level} on Budget {{ ...F{level - 1} ...F{level - 1} }}"
        for level in range(1, 41)
    ]
    query = '{ budget(id: "b1") { ...F40 } }\n' + "\n".join(fragments)
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(schema_under_test.execute_sync(query)), daemon=True
    )

    worker.start()
    worker.join(timeout=10)

    assert answers, "measuring the fragments took over 10 s"
    [error] = answers[0].errors
    assert error.extensions["code"] == "QUERY_TOO_COMPLEX"
    assert resolved.names == []


async def test_a_mutation_over_get_is_refused(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields
) -> None:
    mutation = 'mutation { recordSpend(budgetId: "b1", amount: 500, idempotencyKey: "k1") { id } }'

    response = await graphql_client.get(GRAPHQL_PATH, params={"query": mutation})

    assert response.status_code == 400
    assert response.text == "mutations are not allowed when using GET"
    assert resolved.names == []


async def test_a_batch_of_operations_is_refused(
    graphql_client: httpx.AsyncClient, resolved: ResolvedFields
) -> None:
    # Batching is off: operations in one request would share its context (and its transaction).
    batch = [{"query": "{ budgets { edges { cursor } } }"}] * 2

    response = await graphql_client.post(GRAPHQL_PATH, json=batch)

    assert response.status_code == 400
    assert response.text == "Batching is not enabled"
    assert resolved.names == []


async def test_the_limits_come_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEBUDGET_GRAPHQL_MAX_COST", "100")
    monkeypatch.setenv("ONEBUDGET_GRAPHQL_MAX_DEPTH", "3")
    schema = standin_schema(Settings(data_dir=settings.data_dir))

    errors = (await schema.execute("{ budgets(first: 60) { edges { node { id } } } }")).errors

    assert errors is not None
    codes = {error.extensions["code"]: error.extensions for error in errors}
    assert codes["QUERY_TOO_COMPLEX"]["maxCost"] == 100
    assert codes["QUERY_TOO_DEEP"]["maxDepth"] == 3


# --- the cost formula, on the stand-in schema ---------------------------------------------------


def measure(query: str, variables: dict[str, Any] | None = None) -> Measure:
    """The measure of a one-operation query on the stand-in schema."""
    schema = standin_schema(Settings())
    [(_, measured)] = measure_operations(schema._schema, parse(query), variables)
    return measured


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
    assert measure(query, variables).cost == cost


def test_the_caseload_page_costs_under_two_thirds_of_the_limit() -> None:
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


async def test_the_limits_hold_behind_strawberrys_validation_cache(settings: Settings) -> None:
    # ValidationCache sets the errors of validation (none) before the limits are measured.
    schema = strawberry.Schema(
        standin.Query, standin.Mutation, extensions=[ValidationCache, *limit_extensions(settings)]
    )

    [error] = (await schema.execute(NESTED_HUNDREDS)).errors or []

    assert error.extensions["code"] == "QUERY_TOO_COMPLEX"


def test_fragments_spread_thousands_deep_are_refused_as_too_deep(settings: Settings) -> None:
    # Only a token limit raised far above the default lets such a chain through the parser.
    schema = standin_schema(Settings(data_dir=settings.data_dir, graphql_max_tokens=50_000))
    chain = [f"fragment F{n} on Budget {{ ...F{n + 1} }}" for n in range(3000)]
    query = (
        '{ budget(id: "b1") { ...F0 } }\n' + "\n".join(chain) + "\nfragment F3000 on Budget { id }"
    )

    [error] = schema.execute_sync(query).errors or []

    assert error.extensions["code"] == "QUERY_TOO_DEEP"
    assert "nest too deeply to measure" in error.message
