"""FastAPI dependencies that turn a bearer token into a Caller and check scopes."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from service.auth.caller import Caller
from service.auth.tokens import InvalidToken, verify_access_token
from service.errors import MissingScope, Unauthenticated


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="onebudget"'
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}


async def current_caller(request: Request) -> Caller:
    """The verified caller of this request, or 401 with a WWW-Authenticate challenge."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Send an access token: Authorization: Bearer <token> (get one at /oauth/token).",
            headers=_challenge(),
        )
    try:
        return verify_access_token(
            token.strip(),
            key=request.app.state.signing_key,
            issuer=request.app.state.settings.token_issuer,
            audience=request.app.state.settings.audience,
        )
    except InvalidToken as exc:
        raise Unauthenticated(
            f"The access token was refused: {exc}. Get a new one at /oauth/token.",
            headers=_challenge("invalid_token", str(exc)),
        ) from None


Authenticated = Annotated[Caller, Depends(current_caller)]


def require(scope: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets the caller through only if its token has `scope`."""

    async def check(caller: Authenticated) -> Caller:
        if scope not in caller.scopes:
            raise MissingScope(
                f"This operation needs the scope {scope!r}; ask for it when you get a token.",
                extensions={"required_scope": scope},
                headers=_challenge("insufficient_scope", f"needs {scope}"),
            )
        return caller

    return check


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
