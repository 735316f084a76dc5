"""Request faults, applied in front of a sandbox's routes (never its /_sandbox controls).

latency waits before the request is handled; rate_limit and server_error answer instead of
handling it; timeout and drop_connection let it be handled (a report is recorded) and
then lose the answer: hung longer than a client waits, or cut off half-way with the socket
closed. A client that retries must therefore expect its first try to have counted.
"""

import asyncio
import logging
from collections.abc import Callable

from adapters.sandbox.faults import (
    DROP_CONNECTION,
    LATENCY,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    Faults,
)
from adapters.sandbox.options import SandboxOptions
from service.ops.middleware import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox"

# (status, message) -> (content type, body), in the sandbox's own style.
ErrorBody = Callable[[int, str], tuple[str, bytes]]


class ConnectionDropped(Exception):
    """Raised after half an answer, on purpose: uvicorn then closes the socket."""


class _HideDroppedConnections(logging.Filter):
    """uvicorn logs an app error with its traceback; a drop on purpose is no error."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the record of a ConnectionDropped."""
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def hide_dropped_connections() -> None:
    """Keep deliberate drops out of uvicorn's error log (once per process)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in logger.filters):
        logger.addFilter(_HideDroppedConnections())


class FaultMiddleware:
    """Inject the request faults of one sandbox."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: Callable[[], Faults],  # the sandbox's current faults (a reset makes new ones)
        options: SandboxOptions,
        error_body: ErrorBody,
    ) -> None:
        self.app = app
        self.faults = faults
        self.options = options
        self.error_body = error_body

    async def _refuse(
        self, send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Answer an error in the sandbox's style, without handling the request."""
        content_type, body = self.error_body(status, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Roll for each request fault, then pass the request on (or not)."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        faults = self.faults()
        if faults.fires(LATENCY):
            await asyncio.sleep(self.options.latency_seconds)
        if faults.fires(RATE_LIMIT):
            wait = str(self.options.retry_after_seconds)
            await self._refuse(
                send,
                429,
                f"Too many requests: retry after {wait} s",
                [(b"retry-after", wait.encode())],
            )
            return
        if faults.fires(SERVER_ERROR):
            await self._refuse(send, 500, "Internal server error (sandbox fault)", [])
            return
        hang, drop = faults.fires(TIMEOUT), faults.fires(DROP_CONNECTION)
        if not (hang or drop):
            await self.app(scope, receive, send)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        if hang:
            await asyncio.sleep(self.options.hang_seconds)
        if not drop:
            for message in answer:
                await send(message)
            return
        body = b"".join(m.get("body", b"") for m in answer[1:])
        await send(answer[0])
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        raise ConnectionDropped(
            f"{scope['path']}: dropped after {len(body) // 2} of {len(body)} bytes"
        )
