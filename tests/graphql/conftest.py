"""The GraphQL endpoint the limit and fuzz tests run against, from one place.

Today the stand-in schema (tests/graphql/standin.py) mounted alone in a FastAPI app at /graphql.
To test the real schema instead, point `schema_under_test` at it and `graphql_app` at the
service's app (with `graphql_headers` carrying a token if the endpoint needs one).
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import strawberry
from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter

from service.config import Settings
from tests.graphql.endpoint import GRAPHQL_PATH, ResolvedFields
from tests.graphql.standin import standin_schema


@pytest.fixture
def schema_under_test(settings: Settings) -> strawberry.Schema:
    """The schema whose limits are tested, with the service's default limits."""
    return standin_schema(settings)


@pytest.fixture
def graphql_app(schema_under_test: strawberry.Schema) -> FastAPI:
    """An app serving the schema at /graphql as the service mounts it."""
    app = FastAPI()
    app.include_router(GraphQLRouter(schema_under_test), prefix=GRAPHQL_PATH)
    return app


@pytest.fixture
def graphql_headers() -> dict[str, str]:
    """Headers every request carries (a token, for an endpoint that needs one)."""
    return {}


@pytest.fixture
async def graphql_client(
    graphql_app: FastAPI, graphql_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the GraphQL app in-process."""
    transport = httpx.ASGITransport(app=graphql_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=graphql_headers
    ) as http:
        yield http


@pytest.fixture
def resolved(
    schema_under_test: strawberry.Schema, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ResolvedFields]:
    """Records each field the schema resolves: an empty record means no resolver ran."""
    record = ResolvedFields()
    monkeypatch.setattr(
        schema_under_test, "extensions", (*schema_under_test.extensions, record.extension)
    )
    yield record
