"""schemathesis fuzzes the GraphQL endpoint: nothing it makes up gets a server error.

It reads the schema by introspection from `graphql_app` (tests/graphql/conftest.py) over ASGI,
then sends generated operations for every root field: queries and mutations with random
arguments and selections, some of them over a limit. No answer may be a 5xx, nor carry an
error from a resolver without an `extensions.code` (an exception nobody handled). The run is
bounded: about TOTAL_EXAMPLES operations whatever the schema's size (set by
ONEBUDGET_GRAPHQL_FUZZ_EXAMPLES), the same ones each run.

schemathesis calls the app in an event loop of its own and runs the app's lifespan there: an
app that opens database connections at startup must be one built for this test alone.
"""

import json
import os
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import graphql as schemathesis_graphql

from tests.graphql.endpoint import GRAPHQL_PATH

TOTAL_EXAMPLES = int(os.environ.get("ONEBUDGET_GRAPHQL_FUZZ_EXAMPLES", "300"))
LEAST_PER_FIELD = 5


def no_server_error(case: Any, headers: dict[str, str]) -> None:
    """Send one generated operation: the answer is a GraphQL answer or a client error, never 5xx."""
    response = case.call(headers=headers)
    request = f"{case.body}\n-> {response.status_code} {response.text[:500]}"
    assert response.status_code < 500, request
    if response.status_code == 200:
        answer = json.loads(response.text)
        assert "data" in answer or "errors" in answer, request
        for error in answer.get("errors") or ():
            # An error with a path came from a resolver: it failed unexpectedly unless it says
            # why with a code (NOT_FOUND, FORBIDDEN, ...).
            assert "path" not in error or "code" in (error.get("extensions") or {}), request


def fuzz(operation: Any, *, examples: int, headers: dict[str, str]) -> None:
    """Send `examples` generated cases of one root field."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples every run, as the `ci` profile does
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        no_server_error(case, headers)

    run()


def test_fuzzing_finds_no_server_error(
    graphql_app: FastAPI, graphql_headers: dict[str, str]
) -> None:
    schema = schemathesis_graphql.from_asgi(GRAPHQL_PATH, graphql_app, headers=graphql_headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema has no root field to fuzz"
    per_field = max(LEAST_PER_FIELD, TOTAL_EXAMPLES // len(operations))

    for operation in operations:
        fuzz(operation, examples=per_field, headers=graphql_headers)
