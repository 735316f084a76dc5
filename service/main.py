"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import FastAPI

from service.agencies.endpoints import router as agencies_router
from service.allocations.endpoints import router as allocations_router
from service.auth.dependencies import VerifiedTokens
from service.auth.endpoints import router as auth_router
from service.auth.keys import load_or_create_signing_key
from service.budgets.endpoints import router as budgets_router
from service.config import Settings, get_settings
from service.database import make_engine, make_sessionmaker, plain_url
from service.errors import COMMON_PROBLEMS, install_problem_handlers
from service.migrate import upgrade
from service.ops.endpoints import router as ops_router
from service.ops.middleware import AccessLog, RequestLimits
from service.ops.retry import RetryConflicts
from service.people.endpoints import router as people_router
from service.spends.endpoints import router as spends_router
from service.spends.expiry import expire_commitments
from service.streams.endpoints import router as streams_router

log = logging.getLogger(__name__)


async def _sweep_commitments(app: FastAPI, every: float) -> None:
    """Release expired commitments in the background, so held money never stays stuck."""
    while True:
        await asyncio.sleep(every)
        try:
            async with app.state.sessionmaker() as session, session.begin():
                released = await expire_commitments(session, now=datetime.now(UTC))
            if released:
                log.info("expired commitments released", extra={"count": released})
        except Exception:
            log.exception("commitment sweep failed; will try again")


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, migrate: bool = True
) -> FastAPI:
    """Build the application. The database is resolved and migrated when it starts."""
    config: Settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(
        title="onebudget",
        version="1.0.0",
        summary="One pooled individual budget; every agency's penny accounted for.",
        lifespan=lifespan,
    )
    app.state.settings = config
    app.state.signing_key = load_or_create_signing_key(config.data_dir)
    app.state.verified_tokens = VerifiedTokens()
    install_problem_handlers(app)
    app.include_router(auth_router)
    app.include_router(ops_router)
    for router in (
        agencies_router,
        streams_router,
        people_router,
        budgets_router,
        allocations_router,
        spends_router,
    ):
        app.include_router(router, responses=COMMON_PROBLEMS)
    # Outermost last: access log, then limits, then the retry of conflicted transactions.
    app.add_middleware(RetryConflicts)
    app.add_middleware(RequestLimits, max_body_bytes=config.max_body_bytes)
    app.add_middleware(AccessLog)
    return app


def app_from_environment() -> FastAPI:
    """The app of one `serve --workers` process, configured from the environment."""
    from service.ops.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, database_url=settings.database_url, migrate=False)
