"""schemathesis fuzzes the service's /graphql: nothing it makes up gets a server error.

It reads the real schema by introspection (on, as with `serve --demo`) from an app built for
this test, on the test's own database with a budget in it, and sends generated operations
for every root query and mutation (schemathesis makes no subscriptions) with a council's real
token, with random arguments and selections, some of them over a limit. No
answer may be a 5xx, nor carry an error without an `extensions.code` (a resolver's failure
nobody handled, or a document error left uncoded). Ids are the world's objects' as often as
made-up strings and UUIDs, so reads and mutations reach real rows. The run is bounded: about
TOTAL_EXAMPLES operations whatever the schema's size (set by ONEBUDGET_GRAPHQL_FUZZ_EXAMPLES),
the same ones each run.

schemathesis calls the app in an event loop of its own and runs the app's lifespan there:
the app is one built for this test alone, not the session's.
"""

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import graphql as schemathesis_graphql
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.graphql import nodes

from service.api.fields import MAX_AMOUNT
from service.config import Settings
from tests.graphql.client import PATH
from tests.partners import PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body

TOTAL_EXAMPLES = int(os.environ.get("ONEBUDGET_GRAPHQL_FUZZ_EXAMPLES", "300"))
LEAST_PER_FIELD = 5

# Any whole number, and often one at an edge: the largest amount and past it, past 32 and
# 64 bits (the scalar must refuse what is too large before the database sees it).
EDGES = [0, -1, MAX_AMOUNT, MAX_AMOUNT + 1, 2**31, 2**63, -(2**63) - 1, 10**30]
schemathesis_graphql.scalar(
    "Money", st.one_of(st.sampled_from(EDGES), st.integers()).map(nodes.Int)
)
# Int is only ever a page size (`first`): mostly ones the limits let through, so operations
# reach the resolvers, and sometimes any 32-bit one.
schemathesis_graphql.scalar(
    "Int", st.one_of(st.integers(-1, 3), st.integers(-(2**31), 2**31 - 1)).map(nodes.Int)
)


def no_server_error(case: Any, headers: dict[str, str]) -> None:
    """Send one generated operation: a GraphQL answer or a client error, never a 5xx."""
    response = case.call(headers=headers)
    request = f"{case.body}\n-> {response.status_code} {response.text[:500]}"
    assert response.status_code < 500, request
    if response.status_code == 200:
        answer = json.loads(response.text)
        assert "data" in answer or "errors" in answer, request
        for error in answer.get("errors") or ():
            code = (error.get("extensions") or {}).get("code")
            assert code is not None, request
            assert code != "UNAUTHENTICATED", request  # the token is good all along


def fuzz(operation: Any, *, examples: int, headers: dict[str, str]) -> None:
    """Send `examples` generated cases of one root field."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples every run, as the `ci` profile does
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    # Without the string constants schemathesis harvests from the app's code: they would take
    # the place of ids nearly every time.
    @given(case=operation.as_strategy(feedback=NO_FEEDBACK))
    def run(case: Any) -> None:
        no_server_error(case, headers)

    run()


@pytest.fixture
async def world_ids(partners: PartnerFactory, database_url: str) -> tuple[World, list[str]]:
    """A budget with a spend and a commitment, on the test's own database (the fuzzed app's),
    and the ids of its objects."""
    world = await make_world(partners)
    spend = await created(await world.council.post(world.budget_path("/spends"), spend_body(500)))
    held = await created(
        await world.council.post(world.budget_path("/commitments"), commitment_body(700))
    )
    ids = [
        world.budget_id,
        world.person_id,
        world.care_stream,
        world.dfg_stream,
        spend["id"],
        held["id"],
    ]
    return world, [*ids, str(world.council.agency_id), str(world.housing.agency_id)]


@pytest.fixture
def fuzzed_app(settings: Settings, database_url: str) -> Iterator[FastAPI]:
    """The service's app on the test's database, introspection on; schemathesis starts it."""
    from service.main import create_app

    open_book = settings.model_copy(update={"graphql_ide": True, "db_pool_size": 2})
    yield create_app(open_book, database_url=database_url, migrate=False)


def test_fuzzing_finds_no_server_error(
    fuzzed_app: FastAPI, world_ids: tuple[World, list[str]]
) -> None:
    world, ids = world_ids
    made_up = st.one_of(st.uuids().map(str), st.text())  # NUL, not a UUID, too long, ...
    schemathesis_graphql.scalar("ID", st.one_of(st.sampled_from(ids), made_up).map(nodes.String))
    headers = world.council.headers
    schema = schemathesis_graphql.from_asgi(PATH, fuzzed_app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} >= {"Query.budget", "Mutation.recordSpend"}
    per_field = max(LEAST_PER_FIELD, TOTAL_EXAMPLES // len(operations))

    for operation in operations:
        fuzz(operation, examples=per_field, headers=headers)
