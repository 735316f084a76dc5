"""The HTTP edge over a real socket: errors keep the connection, slow clients are cut off."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app
from service.ops.timeouts import header_deadline_protocol

HEADER_SECONDS = 1.0
BODY_SECONDS = 1.0


@pytest.fixture
async def app(data_dir: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """An app of its own with short deadlines, so the tests wait a second, not half a minute.

    Its own (the shared test app has the default deadlines, and a test adds a route).
    """
    settings = Settings(
        data_dir=data_dir,
        commitment_sweep_seconds=3600,
        body_read_timeout_seconds=BODY_SECONDS,
        header_read_timeout_seconds=HEADER_SECONDS,
    )
    application = create_app(settings, database_url=database_url, migrate=False)
    async with LifespanManager(application):
        yield application


async def _serve(app: FastAPI, *, h11: bool = False) -> AsyncIterator[str]:
    """Serve the (already started) app with uvicorn on a free loopback port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        http=header_deadline_protocol(HEADER_SECONDS, h11=h11),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(params=["httptools", "h11"])
async def address(request: Any, app: FastAPI) -> AsyncIterator[str]:
    """host:port of a real uvicorn serving the app, with each HTTP/1.1 implementation."""
    async for address in _serve(app, h11=request.param == "h11"):
        yield address


async def test_an_unhandled_error_keeps_the_keep_alive_connection(
    app: FastAPI, address: str
) -> None:
    async def boom() -> None:
        raise RuntimeError("test-only failure")

    app.add_api_route("/test-only/boom", boom)
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        failed = await client.get("/test-only/boom")
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json()["type"].endswith("/server-error")
        assert "test-only failure" not in failed.text
        first = failed.extensions["network_stream"].get_extra_info("client_addr")
        after = await client.get("/healthz")
        assert after.status_code == 200
        second = after.extensions["network_stream"].get_extra_info("client_addr")
        assert first == second  # the same connection served both


async def _closed_after(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout=HEADER_SECONDS * 10)
    return answer, time.monotonic() - started


async def test_headers_sent_a_byte_at_a_time_are_cut_off(address: str) -> None:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100

    async def trickle() -> None:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    try:
        answer, waited = await _closed_after(reader)
    finally:
        trickling.cancel()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request-timeout" in answer
    assert waited < HEADER_SECONDS + 1.5


async def test_a_connection_that_sends_nothing_is_closed(address: str) -> None:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer, waited = await _closed_after(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert waited < HEADER_SECONDS + 1.5


async def test_a_body_that_stalls_gets_408_and_the_connection_closes(address: str) -> None:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        b"grant_type"
    )
    await writer.drain()
    answer, waited = await _closed_after(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert b"request-timeout" in answer
    assert waited < BODY_SECONDS + 1.5


async def test_a_prompt_client_is_untouched_by_the_deadlines(address: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{address}") as client:
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
            await asyncio.sleep(HEADER_SECONDS * 0.6)  # idle between requests is fine
