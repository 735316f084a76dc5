"""A tiny graphql-transport-ws client for the tests, over a real socket (the websockets library)."""

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.live import WAIT_SECONDS

PROTOCOL = "graphql-transport-ws"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """An app served by uvicorn in this event loop: where, the server, and its task."""

    url: str  # ws://.../graphql
    server: uvicorn.Server
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[Served]:
    """The (started) app served by uvicorn on a free port of 127.0.0.1 (a real socket)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not server.started:
                await asyncio.sleep(0.01)
        yield Served(f"ws://127.0.0.1:{port}/graphql", server, task)
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[ClientConnection]:
    """A websocket speaking graphql-transport-ws, not yet signed in."""
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=WAIT_SECONDS) as websocket:  # type: ignore[list-item]
        yield websocket


async def send(websocket: ClientConnection, **message: Any) -> None:
    """Send one protocol message."""
    await websocket.send(json.dumps(message))


async def received(websocket: ClientConnection) -> dict[str, Any]:
    """The next protocol message, failing the test if none comes."""
    message: dict[str, Any] = json.loads(await asyncio.wait_for(websocket.recv(), WAIT_SECONDS))
    return message


async def closed(websocket: ClientConnection) -> tuple[int | None, str | None]:
    """The code and reason the server closed the socket with (failing if it does not)."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            message = await asyncio.wait_for(websocket.recv(), WAIT_SECONDS)
            raise AssertionError(f"expected the socket to close, got {message!r}")
    return websocket.close_code, websocket.close_reason


async def sign_in(websocket: ClientConnection, payload: dict[str, Any]) -> None:
    """connection_init with this payload, acknowledged."""
    await send(websocket, type="connection_init", payload=payload)
    assert await received(websocket) == {"type": "connection_ack"}


@contextlib.asynccontextmanager
async def signed_in(url: str, token: str) -> AsyncIterator[ClientConnection]:
    """A websocket signed in with the token, as the docs tell a front-end to."""
    async with opened(url) as websocket:
        await sign_in(websocket, {"Authorization": f"Bearer {token}"})
        yield websocket


async def subscribe(
    websocket: ClientConnection,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    operation: str = "1",
) -> None:
    """Start an operation, under this id."""
    payload = {"query": query, "variables": variables or {}}
    await send(websocket, id=operation, type="subscribe", payload=payload)


async def next_data(websocket: ClientConnection, *, operation: str = "1") -> dict[str, Any]:
    """The data of the operation's next result, which has no errors."""
    message = await received(websocket)
    assert message["type"] == "next" and message["id"] == operation, message
    assert "errors" not in message["payload"], message
    data: dict[str, Any] = message["payload"]["data"]
    return data
