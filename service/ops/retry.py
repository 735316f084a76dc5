"""Retry a whole request when PostgreSQL aborts its transaction to resolve a conflict.

A serialization failure (40001) or a deadlock (40P01) means "try the same transaction
again". The request owns its transaction, so the unit to retry is the request: this
middleware replays the buffered body to the app, at most `attempts` times, and only while
nothing has been sent to the client. Exhausted, it answers 503 with Retry-After.
"""

import asyncio
import logging
import random
from collections.abc import Iterator

from service.ops.middleware import ASGIApp, Message, Receive, Scope, Send, send_problem

log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def errors_in_chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it was raised from or during, and the driver error it wraps (.orig)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE a driver error carries (asyncpg: sqlstate, psycopg: pgcode), or ""."""
    return str(getattr(error, "sqlstate", "") or getattr(error, "pgcode", "") or "")


def is_retryable(error: BaseException) -> bool:
    """True if a serialization failure or deadlock is anywhere in the error's chain."""
    return any(sqlstate(current) in RETRYABLE_SQLSTATES for current in errors_in_chain(error))


class RetryConflicts:
    """Re-run a write whose transaction PostgreSQL aborted with a retryable conflict."""

    def __init__(self, app: ASGIApp, *, attempts: int = 4) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        for attempt in range(1, self.attempts + 1):
            started = False
            delivered = False

            async def replay() -> Message:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self.app(scope, replay, tracking_send)
                return
            except Exception as error:
                if started or not is_retryable(error):
                    raise
                log.warning("transaction conflict, retrying", extra={"attempt": attempt})
                if attempt == self.attempts:
                    await _busy(send)
                    return
                await asyncio.sleep(random.uniform(0.002, 0.02) * attempt)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _busy(send: Send) -> None:
    await send_problem(
        send,
        503,
        "busy",
        "Busy",
        "The budget is busy with other changes; nothing was changed. Retry shortly.",
        headers=[(b"retry-after", b"1")],
    )
