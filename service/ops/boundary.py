"""The last line of defence: an unexpected error becomes a 500 problem, logged once, safely
(a 503 with Retry-After when the database did not answer: service.ops.unavailable).

Starlette's ServerErrorMiddleware answers an unhandled error and then re-raises it, so the
server logs it a second time and closes the connection, and the client's next request on
that keep-alive connection is lost. This middleware sits inside it: it answers, logs, and
returns normally, so the connection stays usable.

Logs must never carry personal data. SQL parameters are hidden by the engine
(hide_parameters=True), but database errors repeat values in their own messages too
(`invalid input syntax for type integer: "<value>"`), so the messages of errors raised by
the database stack are left out: the log keeps their type, SQLSTATE, statement and stack.
"""

import logging
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from service.errors import database_unavailable_response, server_error_response
from service.ops.middleware import ASGIApp, Message, Receive, Scope, Send
from service.ops.unavailable import is_database_unavailable

log = logging.getLogger("onebudget.errors")

# Errors from these packages may quote the values a statement was given.
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "psycopg", "psycopg2")


class ResponseAborted(Exception):
    """An unexpected error after the response had started: the server must drop it."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those it came from, oldest first, as Python prints them."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not other for other in seen):
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return reversed(seen)


def _describe(error: BaseException) -> str:
    """`module.Type: message`, with the message left out where it may hold data."""
    kind = type(error)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if kind.__module__.split(".")[0] in _DATABASE_MODULES:
        sqlstate = getattr(error, "sqlstate", None) or getattr(
            getattr(error, "orig", None), "sqlstate", None
        )
        statement = getattr(error, "statement", None)
        details = [f"sqlstate={sqlstate}"] if sqlstate else []
        details += [f"statement={statement!r}"] if statement else []
        return f"{name}: (message hidden: may quote personal data) {' '.join(details)}".rstrip()
    return f"{name}: {error}"


def safe_traceback(error: BaseException) -> str:
    """The error's stack and chain, like Python prints it, without database messages."""
    parts = []
    for link in _chain(error):
        frames = "".join(traceback.format_list(traceback.extract_tb(link.__traceback__)))
        parts.append(f"Traceback (most recent call last):\n{frames}{_describe(link)}")
    return "\nThe above led to:\n".join(parts)


def log_unexpected(message: str, error: BaseException, **context: Any) -> None:
    """Log an unexpected error once, with a traceback that carries no personal data."""
    fields: Mapping[str, Any] = {
        **context,
        "error": f"{type(error).__module__}.{type(error).__qualname__}",
        "traceback": safe_traceback(error),
    }
    log.error(message, extra=dict(fields))


class ErrorBoundary:
    """Answer an unexpected error with a 500 problem, log it safely, and do not re-raise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            request_id = scope.get("state", {}).get("request_id")
            log_unexpected("unhandled error", error, path=scope["path"], request_id=request_id)
            if not started:
                unavailable = is_database_unavailable(error)
                answer = database_unavailable_response() if unavailable else server_error_response()
                await answer(scope, receive, send)
            elif not complete:
                # Half a response cannot be mended: the server must close the connection.
                # A fresh error, so the server's own log of it quotes nothing.
                raise ResponseAborted("response cut short by an error logged above") from None
