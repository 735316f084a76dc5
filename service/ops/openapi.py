"""The OpenAPI document, finished in one place so no endpoint has to carry its own docs.

On top of what FastAPI generates:
- security: an OAuth 2.0 client-credentials scheme (tokenUrl /oauth/token, every scope
  described) and an HTTP bearer JWT scheme, applied to every /v1 operation with the
  scope it needs, so "Authorize" and "Try it out" in /docs work;
- info.version is the installed package's version;
- Idempotency-Key is marked required on the operations whose guard requires it;
- each operation's summary is the first sentence of its endpoint's docstring.
"""

import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from service.auth.caller import SCOPES
from service.auth.dependencies import REQUIRED_SCOPE
from service.idempotency.guard import KEY_HEADER, KEY_REQUIRED

OAUTH2, BEARER = "oauth2", "bearerJWT"

_RESOURCES = {
    "streams": "your agency's funding streams",
    "people": "the people your agency supports (personal data)",
    "budgets": "budgets, their funders and balances",
    "allocations": "allocations of your streams' money to budgets",
    "spends": "spends, commitments and reversals",
    "ledger": "ledger transfers of budgets",
    "syncs": "your agency's syncs with its own system and their dead letters",
    "webhooks": "your agency's webhook endpoints and their delivery logs",
}
_ACTIONS = {"read": "Read", "write": "Create and change", "approve": "Approve or reject"}
# A write whose words above would mislead.
_DESCRIPTIONS = {"syncs:write": "Replay your agency's dead letters"}


def scope_description(scope: str) -> str:
    """`budgets:read` -> "Read budgets, their funders and balances"."""
    if scope in _DESCRIPTIONS:
        return _DESCRIPTIONS[scope]
    resource, _, action = scope.partition(":")
    return f"{_ACTIONS.get(action, action.capitalize())} {_RESOURCES.get(resource, resource)}"


def package_version() -> str:
    """The installed onebudget version (what /openapi.json calls info.version)."""
    try:
        return version("onebudget")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


def _summary(endpoint: Callable[..., Any]) -> str | None:
    """The first sentence of a docstring, without its full stop."""
    doc = inspect.getdoc(endpoint)
    if not doc:
        return None
    first = re.split(r"(?<=[.!?])\s", " ".join(doc.split()), maxsplit=1)[0]
    return first.rstrip(".")


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency callable a route runs, depth first."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _required_scopes(route: APIRoute) -> list[str]:
    """Scopes named by the route's `require(scope)` dependencies."""
    scopes = (getattr(call, REQUIRED_SCOPE, None) for call in _calls(route.dependant))
    return sorted({scope for scope in scopes if isinstance(scope, str)})


def _finish(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    schema["info"]["version"] = package_version()
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        OAUTH2: {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials: your client id and secret.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token",
                    "scopes": {scope: scope_description(scope) for scope in SCOPES},
                }
            },
        },
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from /oauth/token (an ES256 RFC 9068 JWT).",
        },
    }
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if route.summary is None and (summary := _summary(route.endpoint)):
                operation["summary"] = summary
            if route.path_format.startswith("/v1/"):
                scopes = _required_scopes(route)
                operation["security"] = [{OAUTH2: scopes}, {BEARER: []}]
            if any(getattr(call, KEY_REQUIRED, False) for call in _calls(route.dependant)):
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "header" and parameter["name"] == KEY_HEADER:
                        parameter["required"] = True


def install_openapi(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Make `app.openapi()` return the finished document (built once, then cached).

    `routers` are those the app includes, without prefixes: their routes are the operations.
    """
    generate = app.openapi
    routers = list(routers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _finish(schema, (route for router in routers for route in router.routes))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
