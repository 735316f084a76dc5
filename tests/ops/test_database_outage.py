"""A database that does not answer gets a 503 with Retry-After, and the pool heals by itself.

While PostgreSQL restarts, a request may meet a refused connection, a server shutting
down, or a pooled connection the server has hung up on. None says anything about the
request, and a write cut that way may or may not have committed, so the client is told to
retry with the same Idempotency-Key (tests/durability runs it for real, under load).
"""

import asyncio

import asyncpg
import httpx
import pytest
from asyncpg.exceptions import InternalClientError
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.database import SessionDep, make_engine
from service.ops.unavailable import is_database_unavailable

CUT = "/test-only/cut-off"
UNREACHABLE = "/test-only/unreachable"
CLOSED_PORT = 1  # tcpmux, privileged: nothing listens, a connection is refused at once


class _PgError(Exception):
    """A driver error carrying an SQLSTATE, as asyncpg's do."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(error: Exception, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, error, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(_PgError("57P01")),  # terminating connection due to administrator command
        _wrapped(_PgError("57P03")),  # the database system is shutting down / starting up
        _wrapped(_PgError("08003")),  # connection does not exist
        _wrapped(Exception("connection is closed"), invalidated=True),
        _wrapped(InternalClientError('protocol is in the "failed" state')),
        ConnectionRefusedError(111, "Connection refused"),
        FileNotFoundError(2, "No such file or directory"),  # the Unix socket is gone
    ],
    ids=["57P01", "57P03", "08003", "invalidated", "broken-protocol", "refused", "no-socket"],
)
def test_a_database_that_does_not_answer_is_unavailable(error: BaseException) -> None:
    assert is_database_unavailable(error) is True


@pytest.mark.parametrize(
    "error",
    [_wrapped(_PgError("23505")), _wrapped(_PgError("40001")), _wrapped(_PgError("57014"))],
    ids=["unique-violation", "serialization-failure", "query-canceled"],
)
def test_errors_of_the_request_itself_are_not_outages(error: BaseException) -> None:
    assert is_database_unavailable(error) is False
    assert is_database_unavailable(ValueError("a bug")) is False


def _drop_routes(app: FastAPI, *paths: str) -> None:
    """The app is shared by the session's tests: leave it as it was."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") not in paths]


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/database-unavailable")
    assert "same Idempotency-Key" in problem["detail"]


async def test_a_connection_cut_mid_request_answers_503_and_the_next_request_is_served(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    """The server hangs up on the request's pooled connection (as a restart does): 503,
    and the engine drops that connection, so the next request is served without a restart."""

    async def cut_off(session: SessionDep) -> dict[str, int]:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await asyncio.sleep(0.1)  # let the goodbye arrive
        await session.execute(text("SELECT 1"))
        return {"survived": 1}

    app.add_api_route(CUT, cut_off, methods=["POST"])
    try:
        _assert_503(await client.post(CUT))
    finally:
        _drop_routes(app, CUT)
    assert (await client.get("/readyz")).status_code == 200


async def test_an_unreachable_database_answers_503(app: FastAPI, client: httpx.AsyncClient) -> None:
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/nowhere", pool_size=1)

    async def unreachable(request: Request) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    app.add_api_route(UNREACHABLE, unreachable, methods=["POST"])
    try:
        _assert_503(await client.post(UNREACHABLE))
    finally:
        _drop_routes(app, UNREACHABLE)
        await engine.dispose()
