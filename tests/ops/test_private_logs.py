"""No log line carries SQL parameters or values the database quotes back."""

import logging

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.database import make_engine
from service.ops.logging import JsonFormatter

SECRET = "Jane-Doe-1984-secret"


async def test_the_engine_hides_statement_parameters(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": SECRET})
    finally:
        await engine.dispose()
    assert "division by zero" in str(raised.value)
    assert SECRET not in str(raised.value)


async def test_an_unhandled_database_error_logs_no_value(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def leak(request: Request) -> None:
        # The driver quotes the bad value in its own message ("invalid input for query
        # argument $1: '...'"), whatever hide_parameters says.
        async with request.app.state.sessionmaker() as session:
            await session.execute(text("SELECT CAST(:v AS integer)"), {"v": SECRET})

    app.add_api_route("/test-only/leak", leak)
    try:
        with caplog.at_level(logging.DEBUG):
            response = await client.get("/test-only/leak")
    finally:  # the app is shared by the session's tests: leave it as it was
        app.router.routes[:] = [
            route for route in app.router.routes if getattr(route, "path", "") != "/test-only/leak"
        ]
    assert response.status_code == 500
    assert SECRET not in response.text
    unhandled = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(unhandled) == 1
    logged = unhandled[0].traceback  # type: ignore[attr-defined]
    assert "statement='SELECT CAST($1 AS integer)'" in logged and "sqlstate=" in logged
    formatter = JsonFormatter()
    for record in caplog.records:
        assert SECRET not in formatter.format(record), record.getMessage()
