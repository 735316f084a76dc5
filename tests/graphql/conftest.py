"""What the GraphQL tests share: the schema the test's app serves, and a record of what it ran."""

from collections.abc import Iterator

import pytest
import strawberry
from fastapi import FastAPI

from schema.app import GraphQLEndpoint
from tests.graphql.endpoint import ResolvedFields


def served_schema(app: FastAPI) -> strawberry.Schema:
    """The schema the app serves at /graphql (FastAPI keeps the router it was given)."""
    for route in app.routes:
        view = getattr(route, "original_router", None)
        if isinstance(view, GraphQLEndpoint):
            schema: strawberry.Schema = view.schema
            return schema
    raise LookupError("the app serves no GraphQL")


@pytest.fixture
def resolved(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResolvedFields]:
    """Records each field the app's schema resolves: an empty record means no resolver ran."""
    schema = served_schema(app)
    record = ResolvedFields()
    monkeypatch.setattr(schema, "extensions", (*schema.extensions, record.extension))
    yield record
