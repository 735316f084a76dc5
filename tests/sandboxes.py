"""Helpers for the sandbox agency tests: one sandbox served per test, a client that can
call it as a partner would, and a webhook receiver on a real socket."""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox import RunningSandbox, SandboxOptions, running_sandboxes

# Short waits, so a test that meets a fault waits a fraction of a second.
FAST = SandboxOptions(
    latency_seconds=0.3,
    hang_seconds=1.0,
    webhook_retry_seconds=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
    webhook_timeout_seconds=2.0,
    webhook_hold_seconds=0.3,
)


@dataclass
class Agency:
    """A running sandbox and a client for it."""

    sandbox: RunningSandbox
    client: httpx.AsyncClient

    async def headers(self) -> dict[str, str]:
        """What a partner sends to be let in (a fresh token for the council)."""
        credentials = self.sandbox.credentials
        kind = self.sandbox.kind
        if kind == "council":
            answer = await self.client.post(
                credentials["token_url"],
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
            answer.raise_for_status()
            return {"authorization": f"Bearer {answer.json()['access_token']}"}
        if kind == "housing":
            pair = f"{credentials['username']}:{credentials['password']}".encode()
            return {"authorization": f"Basic {base64.b64encode(pair).decode()}"}
        if kind == "employment":
            return {"x-api-key": credentials["api_key"]}
        token = credentials["api_key" if kind == "equipment" else "bearer_token"]
        return {"authorization": f"Bearer {token}"}

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a /_sandbox control; its JSON answer (raises unless 2xx)."""
        answer = await self.client.request(method, f"/_sandbox{path}", json=body)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    async def set_faults(self, **rates: float) -> None:
        """Change fault rates at run time."""
        await self.control("POST", "/faults", rates)

    async def awards(self) -> dict[str, dict[str, Any]]:
        """The sandbox's awards as they stand, by reference."""
        items = (await self.control("GET", "/awards"))["items"]
        return {award["reference"]: award for award in items}

    async def received(self) -> list[dict[str, Any]]:
        """The reports it received, once per delivery id."""
        items: list[dict[str, Any]] = (await self.control("GET", "/received"))["items"]
        return items


def client_for(sandbox: RunningSandbox) -> httpx.AsyncClient:
    """A client for a sandbox (plain HTTP on loopback: no TLS context, 50-100 ms saved)."""
    return httpx.AsyncClient(base_url=sandbox.url, timeout=5.0, verify=False)


@contextlib.asynccontextmanager
async def serve(
    kind: str, *, faults: dict[str, float] | None = None, seed: int = 0, **options: Any
) -> AsyncIterator[Agency]:
    """A sandbox of its own, for a test that needs other timings than FAST (or a start)."""
    settings = replace(FAST, **options)
    async with running_sandboxes(kinds=[kind], faults=faults, seed=seed, options=settings) as up:
        async with client_for(up[kind]) as client:
            yield Agency(up[kind], client)


@dataclass
class Receiver:
    """A webhook endpoint: records every request, and answers from `statuses` (then 204);
    with a `secret`, a request whose signature does not verify is answered 401 instead."""

    statuses: list[int] = field(default_factory=list)
    secret: str | None = None
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        """Forget every request; answer 204 to all, verifying nothing."""
        self.statuses, self.secret, self.requests = [], None, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app."""
        request = Request(scope, receive)
        headers, body = dict(request.headers), await request.body()
        self.requests.append((headers, body))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 204
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError:
                status = 401
        await Response(status_code=status)(scope, receive, send)

    async def wait_for(self, done: Callable[[], bool], seconds: float = 5.0) -> None:
        """Wait until done() holds (or fail after seconds)."""
        async with asyncio.timeout(seconds):
            while not done():
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    """Serve a receiver on a free loopback port; yields its URL."""
    config = uvicorn.Config(receiver, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Poll check until it holds (or fail after seconds)."""
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)
