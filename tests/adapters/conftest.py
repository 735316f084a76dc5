"""Sync tests run against real sandboxes over HTTP, with short timeouts and quick retries."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.sandbox import RunningSandbox, SandboxOptions, running_sandboxes
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from tests.adapters.world import SyncWorld, build_world
from tests.sandboxes import Agency, client_for

# The sandboxes' faults cost fractions of a second: a hang outlasts the adapters' timeout.
QUICK = SandboxOptions(
    latency_seconds=0.05,
    hang_seconds=1.0,
    token_lifetime_seconds=2.0,
    webhook_retry_seconds=(0.05, 0.1, 0.2, 0.4, 0.8),
    webhook_timeout_seconds=1.0,
    webhook_hold_seconds=0.1,
)


@pytest.fixture(scope="session")
async def agency_sandboxes() -> AsyncIterator[dict[str, RunningSandbox]]:
    """The five sandboxes, served for the session; each test resets the ones it uses."""
    async with running_sandboxes(options=QUICK) as running:
        yield running


@pytest.fixture
def sync_settings(data_dir: Path) -> Settings:
    """Adapters that give up on a call quickly and retry at once (Retry-After still holds)."""
    return Settings(
        data_dir=data_dir,
        agency_timeout_seconds=0.4,
        agency_retry_attempts=12,
        agency_retry_total_seconds=30.0,
        agency_retry_wait_initial_seconds=0.01,
        agency_retry_wait_max_seconds=0.05,
        agency_page_size=4,
        agency_push_batch=5,
    )


@pytest.fixture
async def agencies(agency_sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[dict[str, Agency]]:
    """A control client for each sandbox, reset to its seed with every fault off."""
    clients = {kind: client_for(sandbox) for kind, sandbox in agency_sandboxes.items()}
    try:
        found = {kind: Agency(agency_sandboxes[kind], client) for kind, client in clients.items()}
        for agency in found.values():
            await agency.control("POST", "/reset")
        yield found
    finally:
        for client in clients.values():
            await client.aclose()


@pytest.fixture
async def world(
    database_url: str,
    agencies: dict[str, Agency],
    agency_sandboxes: dict[str, RunningSandbox],
    tmp_path: Path,
) -> AsyncIterator[SyncWorld]:
    """The test world in the test's own database, every agency connected to its sandbox."""
    engine = make_engine(database_url, pool_size=5)
    try:
        yield await build_world(make_sessionmaker(engine), agency_sandboxes, tmp_path)
    finally:
        await engine.dispose()
