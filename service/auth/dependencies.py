"""FastAPI dependencies that turn a bearer token into a Caller and check scopes."""

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State

from service.auth.caller import Caller
from service.auth.service import AccessRevoked, client_may_act
from service.auth.tokens import InvalidToken, verify_access_token
from service.database import SessionDep
from service.errors import Unauthenticated
from service.errors import bearer_challenge as _challenge
from service.policy import require_scope


class VerifiedTokens:
    """Tokens already verified by this process, so each signature is checked once.

    An entry is used only before its token's exp; the cache is bounded and simply emptied
    when full (tokens live ten minutes, so it refills cheaply). It remembers only what the
    signed token says; whether its client is still allowed is asked of the database on
    every request (see current_caller).
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._callers: dict[str, Caller] = {}

    def get(self, token: str) -> Caller | None:
        """The caller behind a token verified before and not yet expired."""
        caller = self._callers.get(token)
        if caller is None or caller.expires_at <= time.time():
            return None
        return caller

    def put(self, token: str, caller: Caller) -> None:
        """Remember a freshly verified token."""
        if len(self._callers) >= self.capacity:
            self._callers.clear()
        self._callers[token] = caller


async def verified_caller(request: Request) -> Caller:
    """The caller behind a valid access token, or 401 with a WWW-Authenticate challenge.

    The signature is checked once per process (VerifiedTokens). Whether the client is still
    allowed is not checked here: current_caller does that, or a route that checks it in its
    own first statement (service.idempotency.guard.kept_write).
    """
    return bearer_caller(request.headers.get("authorization", ""), state=request.app.state)


def bearer_caller(authorization: str, *, state: State) -> Caller:
    """The caller behind an `Authorization` value (`Bearer <token>`), as verified_caller
    checks it, wherever the value came from (a header, a websocket's connection_init)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Send an access token: Authorization: Bearer <token> (get one at /oauth/token).",
            headers=_challenge(),
        )
    token = token.strip()
    verified: VerifiedTokens = state.verified_tokens
    caller = verified.get(token)
    if caller is None:
        try:
            caller = verify_access_token(
                token,
                key=state.signing_key,
                issuer=state.settings.token_issuer,
                audience=state.settings.audience,
            )
        except InvalidToken as exc:
            raise _refused(str(exc), "Get a new one at /oauth/token.") from None
        verified.put(token, caller)
    return caller


Verified = Annotated[Caller, Depends(verified_caller)]


async def current_caller(caller: Verified, session: SessionDep) -> Caller:
    """The verified caller of this request, whose client is still allowed.

    The client row is checked on every request, in the request's own transaction (the same
    session the endpoint uses), so a client revoked by any process is refused from its very
    next request.
    """
    if not await client_may_act(session, caller.client_pk):
        raise AccessRevoked()
    return caller


def _refused(reason: str, what_to_do: str) -> Unauthenticated:
    """401 invalid_token, saying why in the problem and in the challenge."""
    return Unauthenticated(
        f"The access token was refused: {reason}. {what_to_do}",
        headers=_challenge("invalid_token", reason),
    )


Authenticated = Annotated[Caller, Depends(current_caller)]


# Read by the OpenAPI document (service.ops.openapi), which lists each route's scope.
REQUIRED_SCOPE = "required_scope"


def _scope_check(
    scope: str, caller: Callable[..., Awaitable[Caller]]
) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(given: Annotated[Caller, Depends(caller)]) -> Caller:
        require_scope(given, scope)
        return given

    setattr(check, REQUIRED_SCOPE, scope)  # noqa: B010
    return check


def require(scope: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets the caller through only if its token has `scope`."""
    return _scope_check(scope, current_caller)


StreamsRead = Annotated[Caller, Depends(require("streams:read"))]
StreamsWrite = Annotated[Caller, Depends(require("streams:write"))]
PeopleRead = Annotated[Caller, Depends(require("people:read"))]
PeopleWrite = Annotated[Caller, Depends(require("people:write"))]
BudgetsRead = Annotated[Caller, Depends(require("budgets:read"))]
BudgetsWrite = Annotated[Caller, Depends(require("budgets:write"))]
AllocationsWrite = Annotated[Caller, Depends(require("allocations:write"))]
SpendsRead = Annotated[Caller, Depends(require("spends:read"))]
SpendsWrite = Annotated[Caller, Depends(require("spends:write"))]
SpendsApprove = Annotated[Caller, Depends(require("spends:approve"))]
LedgerRead = Annotated[Caller, Depends(require("ledger:read"))]
SyncsRead = Annotated[Caller, Depends(require("syncs:read"))]
SyncsWrite = Annotated[Caller, Depends(require("syncs:write"))]
WebhooksRead = Annotated[Caller, Depends(require("webhooks:read"))]
WebhooksWrite = Annotated[Caller, Depends(require("webhooks:write"))]
