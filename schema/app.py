"""The GraphQL schema and its /graphql router, built in one place.

`build_schema(settings)` plugs in what every operation goes through: the limits first
(schema.limits), refusals as coded errors, the websocket's contexts (schema.live), and
introspection only where the settings allow. Building touches no database or data dir, so
the SDL can be exported from the code alone (`onebudget graphql-schema`).
"""

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import strawberry
from fastapi import Request, WebSocket
from fastapi.routing import APIWebSocketRoute
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.config import StrawberryConfig
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.unset import UnsetType

from schema.context import Context, graphql_context
from schema.errors import CodedErrors, unexpected
from schema.limits import limit_extensions
from schema.live import LiveConnection, LiveOperations, LiveProtocol
from schema.mutations import Mutation
from schema.queries import Query
from schema.scalars import SCALARS
from schema.subscriptions import Subscription
from service.config import Settings

PATH = "/graphql"
# A websocket has this long to send its connection_init (and token) before it is closed.
CONNECTION_INIT_WAIT = timedelta(seconds=10)
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


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema; without settings, as exported (introspection on, nothing of a server)."""
    open_book = settings is None or settings.graphql_ide
    # The limits first: an extension listed before them could replace the errors they set.
    plugged: list[Extension] = [*limit_extensions(settings)] if settings is not None else []
    plugged += [CodedErrors, LiveOperations]
    if not open_book:
        plugged.append(DisableIntrospection)
    return OneBudgetSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=plugged,
        config=StrawberryConfig(
            scalar_map=SCALARS,
            # Suggestions ("did you mean ...?") would spell out the schema introspection hides.
            disable_field_suggestions=not open_book,
        ),
    )


class GraphQLEndpoint(GraphQLRouter[Context | LiveConnection, None]):
    """/graphql: over HTTP, failing a request on an unexpected error as a REST request would;
    over the websocket, subscriptions signed in by their connection_init (schema.live)."""

    graphql_transport_ws_handler_class = LiveProtocol

    def __init__(self, schema: strawberry.Schema, *, settings: Settings) -> None:
        super().__init__(
            schema,
            path=PATH,
            graphql_ide="graphiql" if settings.graphql_ide else None,
            allow_queries_via_get=True,  # mutations over GET are refused whatever this says
            context_getter=graphql_context,
            # The graphql-ws library's protocol only: the older subscriptions-transport-ws
            # would need a sign-in of its own.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_WAIT,
            max_subscriptions_per_connection=None,  # schema.live.LiveProtocol counts them
        )
        # Strawberry's websocket route builds its context with the HTTP context getter (a
        # request's session and Authorization header): the websocket gets its own.
        self.routes[:] = [r for r in self.routes if not isinstance(r, APIWebSocketRoute)]
        self.add_api_websocket_route(PATH, self.subscriptions)

    async def subscriptions(self, websocket: WebSocket) -> None:
        """A websocket at /graphql, signed in by its connection_init."""
        await self.run(request=websocket, context=LiveConnection(websocket), root_value=None)

    async def on_ws_connect(self, context: Context | LiveConnection) -> UnsetType:
        """Sign the connection in with the token in connection_init's payload."""
        assert isinstance(context, LiveConnection)
        await context.sign_in()  # SignInRefused closes the socket (schema.live.LiveProtocol)
        return UnsetType()  # the one UNSET: acknowledge with no payload

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


def graphql_router(settings: Settings) -> GraphQLEndpoint:
    """/graphql: POST for queries and mutations, GET for queries only, the websocket for
    subscriptions."""
    return GraphQLEndpoint(build_schema(settings), settings=settings)


def sdl() -> str:
    """The schema's SDL, as checked in at schema/schema.graphql."""
    return build_schema().as_str() + "\n"
