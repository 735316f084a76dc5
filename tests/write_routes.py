"""Every write route of the app (POST, PUT, PATCH, DELETE under /v1), found by walking it.

The walk runs at collection time, on an app built the way `create_app` builds it, so a
route added tomorrow is in the lists below without anyone touching the tests; what each
route needs (its scope, whether Idempotency-Key is required, whether it takes a body) is
read from the app's own OpenAPI document, which service/ops/openapi.py derives from the
route's dependencies.
"""

import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from service.config import Settings
from service.idempotency.guard import KEY_HEADER
from service.ops.openapi import OAUTH2

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class WriteRoute:
    """One write operation: a method on a path template, and what it needs."""

    method: str
    path: str  # the template, e.g. /v1/budgets/{budget_id}/spends
    scopes: tuple[str, ...]  # from the operation's OAuth 2.0 security requirement
    key_required: bool  # Idempotency-Key required: the write moves money
    takes_body: bool

    @property
    def name(self) -> str:
        """ "POST /v1/budgets/{budget_id}/spends"."""
        return f"{self.method} {self.path}"

    def served(self, request: httpx.Request) -> bool:
        """Whether `request` was a call of this route."""
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path))
        return request.method == self.method and re.fullmatch(pattern, request.url.path) is not None


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(path prefix, route) for every APIRoute, looking inside included routers.

    FastAPI 0.165 keeps an included router as one lazy entry whose include context names
    the original router and the prefix (older versions copied its routes into the app, as
    plain APIRoutes); both shapes are walked.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        included = getattr(route, "include_context", None)  # FastAPI's lazy include
        if included is not None:
            yield from api_routes(included.included_router.routes, prefix + included.prefix)


def _operation_facts(operation: dict[str, Any]) -> tuple[tuple[str, ...], bool, bool]:
    """Scopes, Idempotency-Key required, takes a body: as the OpenAPI operation says."""
    scopes = next((tuple(r[OAUTH2]) for r in operation.get("security", []) if OAUTH2 in r), ())
    key_required = any(
        p["in"] == "header" and p["name"] == KEY_HEADER and p.get("required")
        for p in operation.get("parameters", [])
    )
    return scopes, key_required, "requestBody" in operation


def write_routes(app: FastAPI) -> list[WriteRoute]:
    """Every /v1 write route of `app`, in the app's order."""
    paths = app.openapi()["paths"]
    found = []
    for prefix, route in api_routes(app.router.routes):
        path = prefix + route.path_format
        if not path.startswith("/v1/"):
            continue
        for method in sorted((route.methods or set()) & WRITE_METHODS):
            operation = paths.get(path, {}).get(method.lower(), {})
            found.append(WriteRoute(method, path, *_operation_facts(operation)))
    return found


def _collected_app() -> FastAPI:
    """An app built as `create_app` builds it; its signing key lives only in a temp dir."""
    from service.main import create_app

    with tempfile.TemporaryDirectory(prefix="onebudget-routes-") as folder:
        return create_app(Settings(data_dir=Path(folder)), migrate=False)


WRITE_ROUTES = write_routes(_collected_app())
