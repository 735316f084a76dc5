"""The websocket at /graphql: how a connection signs in, and the context each subscription reads in.

Only `graphql-transport-ws` is spoken (the protocol of the graphql-ws library). The
connection_init message's payload carries the token, `{"Authorization": "Bearer <token>"}`,
checked exactly as REST checks a request's: the signature, issuer, audience and expiry
(service.auth.dependencies.bearer_caller), then that the client is still allowed
(current_caller), in a session of its own. A refusal closes the socket with 4403 (the
protocol's code for a rejected connection) and the reason; the connection also closes with
4403 when the token expires, so a client connects again with a new one.

Strawberry gives every operation of a connection the one context it was given; here each
operation gets its own (`LiveConnection.operation`, through `LiveOperations`), which holds no
session: a subscription opens a fresh one for each read (`LiveContext.reading`) and none
while it waits. Only subscriptions are served over the websocket, and subscriptions only
there (`BAD_REQUEST` otherwise): queries and mutations go through POST /graphql and REST's
middleware, each in its one transaction.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.graphql import OperationType

from schema.context import Context
from schema.errors import subscription_failure
from service.auth.caller import Caller
from service.auth.dependencies import bearer_caller, current_caller
from service.auth.service import AccessRevoked
from service.domain.errors import DomainError
from service.errors import Problem, Unauthenticated, describe
from service.events.hub import BudgetEvents
from service.ops.boundary import log_unexpected

MAX_OPERATIONS = 100  # running at once on one socket
REFUSED = 4403  # graphql-transport-ws: the server rejects the connection ("Forbidden")
FAILED = 1011  # RFC 6455: the server met a condition it did not expect
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason, in UTF-8
BROKEN = "Something went wrong on our side: connect again."
EXPIRED = "The access token expired: connect again with a new one (from /oauth/token)."
SUBSCRIPTIONS_ONLY = (
    "Only subscriptions are served over the websocket: send queries and mutations with"
    " POST /graphql."
)
OVER_THE_WEBSOCKET = (
    "Subscriptions are served over the websocket at /graphql (protocol graphql-transport-ws),"
    " not over HTTP."
)


class SignInRefused(Exception):
    """connection_init did not sign in: the socket closes with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


class LiveConnection:
    """A websocket's context: no caller until its connection_init signs in."""

    def __init__(self, websocket: WebSocket) -> None:
        self.app: Starlette = websocket.app
        # connection_init's payload: Strawberry sets it before calling on_ws_connect.
        self.connection_params: Any = None
        self.caller: Caller | None = None

    async def sign_in(self) -> Caller:
        """Check the payload's token as REST checks a request's; SignInRefused if it fails."""
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        # Its name in any case, as an HTTP header's.
        given = [value for name, value in params.items() if str(name).lower() == "authorization"]
        authorization = given[0] if given and isinstance(given[0], str) else ""
        try:
            caller = bearer_caller(authorization, state=self.app.state)
            async with self.app.state.sessionmaker() as session:
                self.caller = await current_caller(caller, session)
        except (Unauthenticated, AccessRevoked) as refused:
            raise SignInRefused(REFUSED, describe(refused).detail) from None
        except Exception as error:
            log_unexpected("websocket sign-in failed", error)
            raise SignInRefused(FAILED, BROKEN) from None
        return self.caller

    def operation(self) -> "LiveContext":
        """A context of its own for one operation of the connection."""
        # The protocol closes a connection that subscribes before it is acknowledged (4401).
        assert self.caller is not None
        return LiveContext(app=self.app, caller=self.caller)


class LiveContext(Context):
    """One subscription: the connection's caller, and a session only while it reads."""

    def __init__(self, *, app: Starlette, caller: Caller) -> None:
        super().__init__(
            session=None,
            caller=caller,
            refusal=None,
            settings=app.state.settings,
            clock=app.state.clock,
        )
        self.app = app

    @property
    def events(self) -> BudgetEvents:
        """The process's hub of budget changes."""
        hub: BudgetEvents = self.app.state.budget_events
        return hub

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """A fresh session for one read, and loaders that know nothing yet.

        The client is checked first, as on every REST request (revoked: UNAUTHENTICATED); a
        failure on our side is logged and answered with its code.
        """
        try:
            async with self.app.state.sessionmaker() as session:
                await current_caller(self.caller, session)
                self._session = session
                self.fresh_loaders()
                try:
                    yield
                finally:
                    self._session = None
        except (DomainError, Problem, GraphQLError):
            raise
        except Exception as error:
            # Raised from the stream, not a field: it would reach the subscriber uncoded.
            raise subscription_failure(error) from None


class LiveOperations(SchemaExtension):
    """Each websocket operation in its own context; subscriptions there, and only there."""

    def on_operation(self) -> Iterator[None]:
        """Swap the connection's context for the operation's own."""
        context = self.execution_context.context
        if isinstance(context, LiveConnection):
            self.execution_context.context = context.operation()
        yield

    def on_validate(self) -> Iterator[None]:
        """Refuse an operation sent over the wrong transport, before any resolver."""
        execution = self.execution_context
        if not execution.pre_execution_errors:
            live = isinstance(execution.context, LiveContext)
            subscription = execution.operation_type is OperationType.SUBSCRIPTION
            if live != subscription:
                message = SUBSCRIPTIONS_ONLY if live else OVER_THE_WEBSOCKET
                refusal = GraphQLError(message, extensions={"code": "BAD_REQUEST"})
                execution.pre_execution_errors = [refusal]
        yield


class LiveProtocol(BaseGraphQLTransportWSHandler[Context | LiveConnection, None]):
    """graphql-transport-ws as Strawberry speaks it, but a refused connection_init closes
    saying why (Strawberry's own refusal says only "Forbidden"), the connection closes when
    its token expires, and an operation past the most a socket runs is refused with a code."""

    expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Sign in (the view's on_ws_connect); refused, close with the reason."""
        try:
            await super().handle_connection_init(message)
        except SignInRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        context = self.context
        assert isinstance(context, LiveConnection)  # the context of every websocket
        if self.connection_acknowledged and context.caller is not None and self.expiry is None:
            self.expiry = asyncio.create_task(self._close_at(context.caller.expires_at))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Refuse an operation past MAX_OPERATIONS with a coded error (Strawberry's own says
        only "Subscription limit reached"), then start it as Strawberry does."""
        busy = len(self.operations) >= MAX_OPERATIONS and message["id"] not in self.operations
        if self.connection_acknowledged and busy:
            refusal = GraphQLError(
                f"At most {MAX_OPERATIONS} operations run at once on one websocket: complete"
                " one first, or open another connection.",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS", "maxSubscriptions": MAX_OPERATIONS},
            )
            error: ErrorMessage = {
                "id": message["id"],
                "type": "error",
                "payload": [refusal.formatted],
            }
            await self.send_message(error)
            return
        await super().handle_subscribe(message)

    async def _close_at(self, expires_at: float) -> None:
        """Close with 4403 once the token has expired, its operations ended first."""
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        running = [operation.task for operation in self.operations.values() if operation.task]
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        # Ended before the close: none may send on a closed socket.
        await asyncio.gather(*running, return_exceptions=True)
        await self.websocket.close(code=REFUSED, reason=EXPIRED)

    async def shutdown(self) -> None:
        """Stop the expiry timer, then end the operations as Strawberry does."""
        if self.expiry is not None:
            self.expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.expiry
        await super().shutdown()
