"""Liveness, readiness and Prometheus metrics."""

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from sqlalchemy import text

from service.errors import Problem, Unauthenticated

router = APIRouter(tags=["operations"])


class NotReady(Problem):
    """The database cannot be reached."""

    status, slug, title = 503, "not-ready", "Not ready"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable"}})
async def readyz(request: Request) -> dict[str, str]:
    """The database answers."""
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        raise NotReady("The database is not reachable; check DATABASE_URL.") from None
    return {"status": "ready"}


# Included only when ONEBUDGET_METRICS is on (the default).
metrics_router = APIRouter(tags=["operations"])


@metrics_router.get(
    "/metrics", response_class=Response, responses={401: {"description": "Token required"}}
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; with ONEBUDGET_METRICS_TOKEN set, only for that bearer token."""
    token: SecretStr | None = request.app.state.settings.metrics_token
    if token is not None:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected):
            raise Unauthenticated(
                "Metrics need Authorization: Bearer <ONEBUDGET_METRICS_TOKEN>.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
