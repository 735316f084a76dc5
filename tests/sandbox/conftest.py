"""The five sandboxes run once for the session; each test gets the ones it names, reset."""

from collections.abc import AsyncIterator

import pytest

from adapters.sandbox import RunningSandbox, running_sandboxes
from tests.sandboxes import FAST, Agency, Receiver, client_for, receiving


@pytest.fixture(scope="session")
async def sandboxes() -> AsyncIterator[dict[str, RunningSandbox]]:
    """All five, served for the whole session (starting and stopping costs 0.2 s)."""
    async with running_sandboxes(options=FAST) as running:
        yield running


async def _agency(sandboxes: dict[str, RunningSandbox], kind: str) -> AsyncIterator[Agency]:
    """One sandbox reset to its seed (faults off), with a client."""
    async with client_for(sandboxes[kind]) as client:
        agency = Agency(sandboxes[kind], client)
        await agency.control("POST", "/reset")
        yield agency


@pytest.fixture
async def council(sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[Agency]:
    """The council sandbox, reset."""
    async for agency in _agency(sandboxes, "council"):
        yield agency


@pytest.fixture
async def housing(sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[Agency]:
    """The housing sandbox, reset."""
    async for agency in _agency(sandboxes, "housing"):
        yield agency


@pytest.fixture
async def employment(sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[Agency]:
    """The employment sandbox, reset."""
    async for agency in _agency(sandboxes, "employment"):
        yield agency


@pytest.fixture
async def equipment(sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[Agency]:
    """The equipment sandbox, reset."""
    async for agency in _agency(sandboxes, "equipment"):
        yield agency


@pytest.fixture
async def health(sandboxes: dict[str, RunningSandbox]) -> AsyncIterator[Agency]:
    """The health sandbox, reset."""
    async for agency in _agency(sandboxes, "health"):
        yield agency


@pytest.fixture(scope="session")
async def _receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """A webhook receiver served for the whole session, and its URL."""
    receiver = Receiver()
    async with receiving(receiver) as url:
        yield receiver, url


@pytest.fixture
def webhooks(_receiver: tuple[Receiver, str]) -> tuple[Receiver, str]:
    """The session's webhook receiver, emptied: (receiver, url)."""
    _receiver[0].reset()
    return _receiver
