"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from service.agencies.endpoints import router as agencies_router
from service.allocations.endpoints import router as allocations_router
from service.api.pagination import use_cursor_secret
from service.auth.dependencies import VerifiedTokens
from service.auth.endpoints import router as auth_router
from service.auth.keys import load_or_create_signing_key
from service.budgets.endpoints import router as budgets_router
from service.clock import utc_now
from service.config import Settings, get_settings
from service.database import make_engine, make_sessionmaker, plain_url
from service.errors import COMMON_PROBLEMS, install_problem_handlers
from service.migrate import upgrade
from service.ops.boundary import ErrorBoundary, log_unexpected
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

log = logging.getLogger(__name__)


async def sweep_commitments_once(app: FastAPI) -> int:
    """Release the commitments expired by the app's clock, in one transaction; how many."""
    async with app.state.sessionmaker() as session, session.begin():
        return await expire_commitments(session, now=app.state.clock())


async def _sweep_commitments(app: FastAPI, every: float) -> None:
    """Release expired commitments in the background, so held money never stays stuck."""
    while True:
        await asyncio.sleep(every)
        try:
            released = await sweep_commitments_once(app)
            if released:
                log.info("expired commitments released", extra={"count": released})
        except Exception as error:
            log_unexpected("commitment sweep failed; will try again", error)


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
        sweeper = asyncio.create_task(_sweep_commitments(app, config.commitment_sweep_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.engine.dispose()

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
    app.state.settings = config
    app.state.clock = utc_now  # tests move it; see service.clock
    app.state.signing_key = load_or_create_signing_key(config.data_dir)
    # Cursors are sealed with a key derived from the signing key: the same in every worker.
    use_cursor_secret(app.state.signing_key.as_dict(private=True)["d"].encode())
    app.state.verified_tokens = VerifiedTokens()
    install_problem_handlers(app)
    if config.docs:
        install_docs(app, openapi_url=openapi_url)
    edge_routers = [auth_router, ops_router, *([metrics_router] if config.metrics else [])]
    for router in edge_routers:
        app.include_router(router)
    v1_routers = [
        agencies_router,
        streams_router,
        people_router,
        budgets_router,
        allocations_router,
        spends_router,
    ]
    for router in v1_routers:
        app.include_router(router, responses=COMMON_PROBLEMS)
    install_openapi(app, [*edge_routers, *v1_routers])
    # Innermost first. From the outside in: the access log and the security headers see
    # every answer, the 500 included; the error boundary answers unexpected errors (inside
    # Starlette's ServerErrorMiddleware, which would drop the connection); then the body
    # limits and deadline, then the retry of conflicted transactions, which buffers the body.
    app.add_middleware(RetryConflicts)
    app.add_middleware(BodyDeadline, seconds=config.body_read_timeout_seconds)
    app.add_middleware(RequestLimits, max_body_bytes=config.max_body_bytes)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    return app


def app_from_environment() -> FastAPI:
    """The app of one `serve --workers` process, configured from the environment."""
    from service.ops.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, database_url=settings.database_url, migrate=False)
