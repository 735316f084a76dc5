"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from schema.app import graphql_router
from service.agencies.endpoints import router as agencies_router
from service.allocations.endpoints import router as allocations_router
from service.api.pagination import use_cursor_secret
from service.auth.dependencies import VerifiedTokens
from service.auth.endpoints import router as auth_router
from service.auth.keys import load_or_create_signing_key
from service.budgets.endpoints import router as budgets_router
from service.clock import utc_now
from service.config import Settings, get_settings
from service.database import driver_dsn, make_engine, make_sessionmaker, plain_url
from service.errors import COMMON_PROBLEMS, install_problem_handlers
from service.events.hub import BudgetEvents
from service.idempotency.purge import purge_answers
from service.migrate import upgrade
from service.ops.background import Job, running
from service.ops.boundary import ErrorBoundary
from service.ops.docs import install_docs
from service.ops.endpoints import metrics_router
from service.ops.endpoints import router as ops_router
from service.ops.exposure import check_exposure
from service.ops.headers import SecurityHeaders
from service.ops.middleware import AccessLog, RequestLimits
from service.ops.openapi import install_openapi, package_version
from service.ops.retry import RetryConflicts
from service.ops.timeouts import BodyDeadline
from service.people.endpoints import router as people_router
from service.spends.endpoints import router as spends_router
from service.spends.expiry import expire_commitments
from service.streams.endpoints import router as streams_router
from service.syncs.endpoints import inbound_router
from service.syncs.endpoints import router as syncs_router
from service.webhooks.endpoints import router as webhooks_router

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


async def sweep_commitments_once(app: FastAPI) -> int:
    """Release the commitments expired by the app's clock, in one transaction; how many."""
    async with app.state.sessionmaker() as session, session.begin():
        return await expire_commitments(session, now=app.state.clock())


async def purge_idempotency_once(app: FastAPI) -> int | None:
    """Forget the answers older than the retention period by the app's clock; how many.

    None when another process holds the purge lock (it is purging: this round is skipped).
    """
    retention = timedelta(hours=app.state.settings.idempotency_retention_hours)
    return await purge_answers(app.state.sessionmaker, written_before=app.state.clock() - retention)


def _background_jobs(app: FastAPI, config: Settings) -> list[Job]:
    """What every worker runs on a timer while it serves."""
    return [
        # Held money never stays stuck after its commitment's time runs out.
        Job(
            functools.partial(sweep_commitments_once, app),
            config.commitment_sweep_seconds,
            done="expired commitments released",
            failed="commitment sweep failed; will try again",
        ),
        # The idempotency table stays as small as the retention period allows.
        Job(
            functools.partial(purge_idempotency_once, app),
            config.idempotency_purge_seconds,
            done="expired idempotency answers purged",
            failed="idempotency purge failed; will try again",
        ),
    ]


def _routed_app(config: Settings, lifespan: Lifespan | None = None) -> FastAPI:
    """The routes and the OpenAPI document: what the contract is made of, and nothing else.

    Building it touches no key, data directory or database, so `onebudget openapi` can.
    """
    openapi_url = "/openapi.json"
    app = FastAPI(
        title="onebudget",
        version=package_version(),
        summary="One pooled individual budget; every agency's penny accounted for.",
        lifespan=lifespan,
        openapi_url=openapi_url if config.docs else None,
        docs_url=None,  # install_docs serves them from local assets
        redoc_url=None,
    )
    if config.docs:
        install_docs(app, openapi_url=openapi_url)
    edge_routers = [
        auth_router,
        ops_router,
        inbound_router,
        *([metrics_router] if config.metrics else []),
    ]
    # Money and balances first: FastAPI tries routes in the order they were included, and
    # each route tried before the right one costs a spend about 4% of its CPU (measured with
    # callgrind: bench/README). The order of paths in the OpenAPI document does not change.
    v1_routers = [
        spends_router,
        budgets_router,
        allocations_router,
        agencies_router,
        streams_router,
        people_router,
        syncs_router,
        webhooks_router,
    ]
    for router in v1_routers:
        app.include_router(router, responses=COMMON_PROBLEMS)
    for router in edge_routers:
        app.include_router(router)
    install_openapi(app, [*edge_routers, *v1_routers])
    # GraphQL for council front-ends: same process, tokens, services and middleware; its
    # contract is schema/schema.graphql, not the OpenAPI document.
    app.include_router(graphql_router(config), include_in_schema=False)
    return app


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of the app these settings build, built without side effects."""
    return _routed_app(settings).openapi()


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, migrate: bool = True
) -> FastAPI:
    """Build the application. The database is resolved and migrated when it starts."""
    config: Settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_exposure(config)  # here too, for workers started without `onebudget serve`
        url = database_url
        if url is None:
            url = await asyncio.to_thread(plain_url, config)
        if migrate:
            await asyncio.to_thread(upgrade, url)
        app.state.engine = make_engine(url, pool_size=config.db_pool_size)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        # Live updates: one listening connection per worker process (service/events).
        app.state.budget_events = BudgetEvents(driver_dsn(url))
        try:
            async with app.state.budget_events.running(), running(*_background_jobs(app, config)):
                yield
        finally:
            await app.state.engine.dispose()  # after the jobs stopped: none still uses it

    app = _routed_app(config, lifespan)
    app.state.settings = config
    app.state.clock = utc_now  # tests move it; see service.clock
    app.state.signing_key = load_or_create_signing_key(config.data_dir)
    # Cursors are sealed with a key derived from the signing key: the same in every worker.
    use_cursor_secret(app.state.signing_key.as_dict(private=True)["d"].encode())
    app.state.verified_tokens = VerifiedTokens()
    install_problem_handlers(app)
    # Innermost first. From the outside in: the access log and the security headers see
    # every answer, the 500 included; the error boundary answers unexpected errors (inside
    # Starlette's ServerErrorMiddleware, which would drop the connection); then the body
    # limits and deadline, then the retry of conflicted transactions, which buffers the body.
    app.add_middleware(RetryConflicts)
    app.add_middleware(BodyDeadline, seconds=config.body_read_timeout_seconds)
    app.add_middleware(RequestLimits, max_body_bytes=config.max_body_bytes)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog, metrics=config.metrics)
    return app


def app_from_environment() -> FastAPI:
    """The app of one `serve --workers` process, configured from the environment."""
    from service.ops.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, database_url=settings.database_url, migrate=False)
