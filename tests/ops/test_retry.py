"""A transaction PostgreSQL aborts as a serialization failure or deadlock is retried whole."""

from typing import Any

import httpx
from sqlalchemy.exc import DBAPIError

from service.ops.retry import RetryConflicts, is_retryable


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _conflict(sqlstate: str = "40001") -> DBAPIError:
    return DBAPIError("UPDATE account ...", {}, _PgError(sqlstate))


class _FlakyApp:
    """Fails the first `failures` calls with `error`, then echoes the body it was given."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        self.bodies.append(body)
        if len(self.bodies) <= self.failures:
            raise self.error
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def _post(app: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=RetryConflicts(app, attempts=3))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/v1/x", content=b'{"amount": 1}')


async def test_a_serialization_failure_is_retried_with_the_same_body() -> None:
    app = _FlakyApp(failures=2, error=_conflict("40001"))
    response = await _post(app)
    assert response.status_code == 201
    assert app.bodies == [b'{"amount": 1}'] * 3


async def test_a_deadlock_is_retried() -> None:
    app = _FlakyApp(failures=1, error=_conflict("40P01"))
    assert (await _post(app)).status_code == 201


async def test_retries_run_out_with_a_503_problem_and_retry_after() -> None:
    app = _FlakyApp(failures=10, error=_conflict())
    response = await _post(app)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/busy")
    assert len(app.bodies) == 3


async def test_other_errors_are_not_retried() -> None:
    app = _FlakyApp(failures=1, error=ValueError("bug"))
    try:
        await _post(app)
    except ValueError:
        pass
    assert len(app.bodies) == 1


def test_the_conflict_is_found_anywhere_in_the_chain() -> None:
    try:
        try:
            raise _conflict("40P01")
        except DBAPIError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_retryable(outer)
    assert not is_retryable(_conflict("23505"))
