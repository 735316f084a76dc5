"""A partner's webhook receiver, for the tests and the bench: a real HTTP server on a free
loopback port.

It verifies every request's Standard Webhooks signature with the `standardwebhooks`
package (as a partner would), records what it got, de-duplicates by webhook-id as the
docs tell partners to, and answers what the test tells it to (204 by default).
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.sandbox.runner import SharedLoopServer

# What to answer for a verified message (its parsed body): a status code.
Answer = Callable[[dict[str, Any]], int]


def accept(message: dict[str, Any]) -> int:
    """Take every message."""
    return 204


@dataclass
class Receiver:
    """What a receiving partner saw; `answer` decides each reply (change it at any time)."""

    secret: str | None = None
    answer: Answer = accept
    arrivals: list[tuple[str, int]] = field(default_factory=list)  # (webhook-id, answer) each
    delay: float = 0.0  # seconds to wait before answering
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by webhook-id, once
    order: list[str] = field(default_factory=list)  # webhook-ids in order first accepted
    bad_signatures: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # of every request, verified or not
    url: str = ""
    path: str = "/hooks/onebudget"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self.paths.append(request.url.path)
        body = await request.body()
        headers = dict(request.headers)
        try:
            assert self.secret is not None, "nobody told the receiver its secret"
            message = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.bad_signatures += 1
            await Response(status_code=400)(scope, receive, send)
            return
        webhook_id = headers["webhook-id"]
        self.headers.append(headers)
        status = self.answer(message)
        self.arrivals.append((webhook_id, status))
        await asyncio.sleep(self.delay)
        if 200 <= status < 300 and webhook_id not in self.accepted:
            self.accepted[webhook_id] = message
            self.order.append(webhook_id)
        # A redirect names a place to go: somewhere else on this receiver.
        elsewhere = self.url.replace(self.path, "/elsewhere")
        moved = {"location": elsewhere} if 300 <= status < 400 else {}
        await Response(status_code=status, headers=moved)(scope, receive, send)

    def delivered_twice(self) -> list[str]:
        """Webhook-ids answered 2xx more than once (a duplicate delivery, not a retry)."""
        taken = Counter(webhook_id for webhook_id, status in self.arrivals if 200 <= status < 300)
        return sorted(webhook_id for webhook_id, times in taken.items() if times > 1)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """The accepted messages of one type, in the order they were first accepted."""
        return [m for i in self.order if (m := self.accepted[i])["type"] == event_type]

    def budget_order(self, budget_id: str) -> list[str]:
        """The webhook-ids of one budget's messages, in the order first accepted."""
        return [i for i in self.order if self.accepted[i]["data"]["budget_id"] == budget_id]

    def sent_in_order(self, expected: list[str]) -> bool:
        """True if every attempt at a message of `expected` (one budget's, in the outbox's
        order) came only after all messages before it were accepted."""
        accepted: set[str] = set()
        position = {webhook_id: n for n, webhook_id in enumerate(expected)}
        for webhook_id, status in self.arrivals:
            if webhook_id not in position:
                continue
            if any(earlier not in accepted for earlier in expected[: position[webhook_id]]):
                return False
            if 200 <= status < 300:
                accepted.add(webhook_id)
        return True

    async def until(self, check: Callable[[], bool], seconds: float = 30.0) -> None:
        """Wait until `check()` holds, failing the test after `seconds`."""
        async with asyncio.timeout(seconds):
            while not check():
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def receiving(**options: Any) -> AsyncIterator[Receiver]:
    """A receiver listening on 127.0.0.1 (a free port) while inside."""
    receiver = Receiver(**options)
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    # Signals stay with the caller: Ctrl-C stops the bench (which stops the receiver last),
    # not the receiver alone with the run still waiting on it.
    server = SharedLoopServer(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        receiver.url = f"http://127.0.0.1:{port}{receiver.path}"
        yield receiver
    finally:
        server.should_exit = True
        await task
