"""Read deadlines, so a client trickling its request (slowloris) cannot hold a connection.

uvicorn times out idle keep-alive connections, but nothing bounds how long a client may
take to send a request: every byte received cancels the keep-alive timer. Two deadlines
close that gap:

- Headers: the HTTP protocol classes below give a connection `header_seconds` from its
  start (or from the first byte of each later request) to finish its request headers,
  else they answer 408 and close it. This must live in the server protocol: ASGI code
  runs only once the headers are in.
- Body: `BodyDeadline` bounds each `receive()` so the whole body arrives within
  `body_seconds` of the headers, else the app answers 408 and the connection is closed.

Pass `header_deadline_protocol(seconds)` as uvicorn's `http=`; it is a partial of a
module-level class, so it pickles into `--workers` processes.
"""

import asyncio
import functools
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.errors import Problem, problem_response
from service.ops.middleware import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class RequestTimeout(Problem):
    """The client took too long to send its request."""

    status, slug, title = 408, "request-timeout", "Request timeout"


def _raw_408(seconds: float) -> bytes:
    """A complete 408 problem response, written straight to the socket."""
    body = json.dumps(
        {
            "type": "https://onebudget.example/problems/request-timeout",
            "title": "Request timeout",
            "status": 408,
            "detail": f"The request headers did not arrive within {seconds:g} seconds.",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/problem+json\r\n"
        "x-content-type-options: nosniff\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderDeadline:
    """The deadline bookkeeping shared by both protocol classes (first in their bases)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    header_seconds: float
    _header_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, header_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_seconds = header_seconds

    def connection_made(self, transport: Any) -> None:  # uvicorn and asyncio type it apart
        """Start the clock for the first request's headers."""
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm_header_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_timer = self.loop.call_later(self.header_seconds, self._header_deadline_hit)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_hit(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("closed a connection whose request headers were too slow")
            self.transport.write(_raw_408(self.header_seconds))
            self.transport.close()


class HeaderDeadlineHttpTools(_HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are due within the deadline."""
        super().on_message_begin()
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        """The headers are in: the body deadline (BodyDeadline) takes over."""
        self._disarm_header_deadline()
        super().on_headers_complete()


class HeaderDeadlineH11(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    def handle_events(self) -> None:
        """Stop the clock once h11 has read a request's headers."""
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        """Idle again: the next request's headers are due within the deadline."""
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_deadline()


def header_deadline_protocol(seconds: float, *, h11: bool = False) -> Any:
    """uvicorn's `http=` value: its httptools (or h11) protocol with a header deadline."""
    base = HeaderDeadlineH11 if h11 else HeaderDeadlineHttpTools
    return functools.partial(base, header_seconds=seconds)


class BodyDeadline:
    """Answer 408 (and close) if the request body does not arrive within `seconds`."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal body_done
            if body_done:  # after the body, receive() waits for a disconnect: no bound
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise self._timeout() from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except RequestTimeout as timeout:
            # Raised outside the FastAPI app (e.g. while a middleware buffers the body).
            if started:
                raise
            response = problem_response(
                status=timeout.status,
                slug=timeout.slug,
                title=timeout.title,
                detail=timeout.detail,
                headers=timeout.headers,
            )
            await response(scope, receive, send)

    def _timeout(self) -> RequestTimeout:
        # Connection: close, since the rest of a late body would read as the next request.
        return RequestTimeout(
            f"The request body did not arrive within {self.seconds:g} seconds; send it"
            " without pauses.",
            headers={"Connection": "close"},
        )
