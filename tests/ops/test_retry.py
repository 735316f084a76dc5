"""A transaction PostgreSQL aborts as a serialization failure is retried whole, by the real app.

A test-only route (removed afterwards) runs a SERIALIZABLE transaction on a scratch table
in the request's own session; while it holds its snapshot, another connection commits a
change to the same row, so PostgreSQL aborts the route's update with a real 40001. The
client must see one answer: the success of a later attempt, or a 503 once retries run out.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.database import SessionDep
from service.ops.retry import is_retryable

PATH = "/test-only/retry-probe"
BODY = {"amount": 1}


@dataclass
class Probe:
    """The test route's record: the body each attempt read; conflicts it should meet first."""

    conflicts: int
    bodies: list[Any] = field(default_factory=list)


async def _nudge(app: FastAPI) -> None:
    """Another transaction changes the probe row and commits."""
    async with app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE retry_probe SET nudges = nudges + 1 WHERE id = 1"))


async def _probe_row(app: FastAPI) -> tuple[int, int]:
    """(hits, nudges): the route's committed writes, and the other transaction's."""
    async with app.state.engine.connect() as connection:
        row = (await connection.execute(text("SELECT hits, nudges FROM retry_probe"))).one()
    return row.hits, row.nudges


@contextlib.asynccontextmanager
async def _probe_route(app: FastAPI, *, conflicts: int) -> AsyncIterator[Probe]:
    """The test route on the real app, over a fresh scratch table; both gone afterwards."""
    async with app.state.engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE retry_probe (id int PRIMARY KEY, hits int, nudges int)")
        )
        await connection.execute(text("INSERT INTO retry_probe VALUES (1, 0, 0)"))
    probe = Probe(conflicts)

    async def handler(request: Request, session: SessionDep) -> dict[str, int]:
        probe.bodies.append(await request.json())
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
        await session.execute(text("SELECT hits FROM retry_probe WHERE id = 1"))  # the snapshot
        if len(probe.bodies) <= probe.conflicts:
            await _nudge(app)
        hits = await session.scalar(
            text("UPDATE retry_probe SET hits = hits + 1 WHERE id = 1 RETURNING hits")
        )
        return {"hits": int(hits or 0)}

    app.add_api_route(PATH, handler, methods=["POST"])
    route = app.router.routes[-1]
    try:
        yield probe
    finally:
        app.router.routes.remove(route)


async def _broken(app: FastAPI) -> None:
    """Make the route's update fail with an error no retry can cure (a CHECK, 23514)."""
    async with app.state.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE retry_probe ADD CHECK (hits <= 0)"))


# The route's transaction and the nudge are separate connections.
@pytest.mark.own_database
class TestThroughTheRealApp:
    async def test_a_serialization_failure_is_retried_and_the_write_happens_once(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async with _probe_route(app, conflicts=2) as probe:
            response = await client.post(PATH, json=BODY)
            assert response.status_code == 200, response.text
            assert response.json() == {"hits": 1}
            assert probe.bodies == [BODY] * 3  # the same body, replayed to each attempt
            assert await _probe_row(app) == (1, 2)

    async def test_retries_run_out_with_a_503_problem_and_nothing_written(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async with _probe_route(app, conflicts=100) as probe:
            response = await client.post(PATH, json=BODY)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            problem = response.json()
            assert problem["type"].endswith("/busy") and "nothing was changed" in problem["detail"]
            assert len(probe.bodies) == 4  # RetryConflicts' attempts
            assert await _probe_row(app) == (0, 4)

    async def test_other_database_errors_are_answered_once_not_retried(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async with _probe_route(app, conflicts=0) as probe:
            await _broken(app)
            response = await client.post(PATH, json=BODY)
            assert response.status_code == 500
            assert response.json()["type"].endswith("/server-error")
            assert len(probe.bodies) == 1
            assert await _probe_row(app) == (0, 0)


class _PgError(Exception):
    """A driver error carrying an SQLSTATE, as asyncpg's do."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(sqlstate: str) -> BaseException:
    """A DBAPIError with the driver error as .orig, re-raised from inside another error."""
    try:
        try:
            raise DBAPIError("UPDATE account ...", {}, _PgError(sqlstate))
        except DBAPIError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_conflicts_are_found_anywhere_in_the_chain(sqlstate: str) -> None:
    assert is_retryable(_wrapped(sqlstate)) is True
    assert is_retryable(_PgError(sqlstate)) is True


@pytest.mark.parametrize("sqlstate", ["23505", "23514", "22012", "40000", ""])
def test_other_errors_are_not_conflicts(sqlstate: str) -> None:
    assert is_retryable(_wrapped(sqlstate)) is False
    assert is_retryable(ValueError("bug")) is False
