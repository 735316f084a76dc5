"""The GraphQL schema and its /graphql router, built in one place.

`build_schema` takes what other parts plug in: more schema extensions and validation rules
(query limits), and a Subscription type. Building touches no database or data dir, so the
SDL can be exported from the code alone (`onebudget graphql-schema`).
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import strawberry
from fastapi import Request
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import AddValidationRules, DisableIntrospection, SchemaExtension
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult

from schema.context import Context, graphql_context
from schema.errors import RefusalsAsErrors, unexpected
from schema.mutations import Mutation
from schema.queries import Query
from schema.scalars import SCALARS
from service.config import Settings

PATH = "/graphql"
SDL_PATH = Path(__file__).resolve().parent / "schema.graphql"

# A schema extension as Strawberry takes it: a class, or a factory of a fresh one per request.
Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


class OneBudgetSchema(strawberry.Schema):
    """The schema, without Strawberry's logging of every error with its stack."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Refusals are answers, not incidents; unexpected errors are logged (without personal
        data) where they are answered: the app's ErrorBoundary, or schema.transactions."""


def build_schema(
    settings: Settings | None = None,
    *,
    extensions: Sequence[Extension] = (),
    validation_rules: Sequence[type[ASTValidationRule]] = (),
    subscription: type | None = None,
) -> strawberry.Schema:
    """The schema; without settings, as exported (introspection on, nothing of a server)."""
    open_book = settings is None or settings.graphql_ide
    plugged: list[Extension] = [RefusalsAsErrors]
    if not open_book:
        plugged.append(DisableIntrospection)
    if validation_rules:
        rules = list(validation_rules)
        plugged.append(lambda: AddValidationRules(rules))
    return OneBudgetSchema(
        query=Query,
        mutation=Mutation,
        subscription=subscription,
        extensions=[*plugged, *extensions],
        config=StrawberryConfig(
            scalar_map=SCALARS,
            # Suggestions ("did you mean ...?") would spell out the schema introspection hides.
            disable_field_suggestions=not open_book,
        ),
    )


class GraphQLEndpoint(GraphQLRouter[Context, None]):
    """/graphql, failing a request on an unexpected error as a REST request would."""

    def encode_json(self, data: object) -> str:
        """Compact JSON, with text as written (£, not \\u00a3), as REST answers."""
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Raise an unexpected error to the app's middleware (retry, 503, 500) instead of
        answering it as a GraphQL error: the request's transaction then rolls back."""
        for error in result.errors or ():
            if (original := unexpected(error)) is not None:
                raise original
        return await super().process_result(request, result)


def graphql_router(
    settings: Settings,
    *,
    extensions: Sequence[Extension] = (),
    validation_rules: Sequence[type[ASTValidationRule]] = (),
    subscription: type | None = None,
) -> GraphQLEndpoint:
    """The /graphql router: POST for queries and mutations, GET for queries only."""
    schema = build_schema(
        settings,
        extensions=extensions,
        validation_rules=validation_rules,
        subscription=subscription,
    )
    options: dict[str, Any] = {"graphql_ide": "graphiql" if settings.graphql_ide else None}
    return GraphQLEndpoint(
        schema,
        path=PATH,
        context_getter=graphql_context,
        allow_queries_via_get=True,  # mutations over GET are refused whatever this says
        **options,
    )


def sdl() -> str:
    """The schema's SDL, as checked in at schema/schema.graphql."""
    return build_schema().as_str() + "\n"
