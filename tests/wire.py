"""A TCP proxy in front of the test's PostgreSQL: counts round trips, and can cut the line.

What a client pays for is the number of times it waits for the server, whatever the driver
does inside; the proxy sees exactly that on the wire. A round trip starts each time the
client sends after the server last spoke (or first) on a connection.

`go_silent()` makes every connection open now stop carrying bytes either way while staying
open, as after a network cut that no one announced (no FIN, no RST); new ones work.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url


@dataclass
class _Line:
    """One proxied connection: who spoke last, and whether it still carries anything."""

    last: str = ""
    silent: bool = False


@dataclass
class WireTap:
    """A proxy to the server of `url`; `url_through` is the same database reached through it."""

    url: str
    round_trips: int = 0
    port: int = 0
    _lines: list[_Line] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url_through(self) -> str:
        """The database's URL, through the proxy."""
        through = make_url(self.url).set(host="127.0.0.1", port=self.port)
        return through.difference_update_query(["host", "port"]).render_as_string(
            hide_password=False
        )

    def go_silent(self) -> None:
        """Every connection open now carries nothing more (nor closes); new ones work."""
        for line in self._lines:
            line.silent = True

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = make_url(self.url)
        socket_dir = target.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # the embedded server
            path = f"{socket_dir}/.s.PGSQL.{target.port or 5432}"
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(target.host or "127.0.0.1", target.port or 5432)

    async def _pipe(
        self, line: _Line, side: str, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while chunk := await source.read(65536):
                if line.silent:
                    continue  # swallowed: the other end waits for ever
                if side == "client" and line.last != "client":
                    self.round_trips += 1
                line.last = side
                sink.write(chunk)
                await sink.drain()
        sink.close()

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await self._open_upstream()
        line = _Line()
        self._lines.append(line)
        await asyncio.gather(
            self._pipe(line, "client", client_in, server_out),
            self._pipe(line, "server", server_in, client_out),
        )

    def _handle(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(client_in, client_out))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def wire_tap(url: str) -> AsyncIterator[WireTap]:
    """A proxy to `url`'s server on a free loopback port, for the block's length."""
    tap = WireTap(url)
    server = await asyncio.start_server(tap._handle, "127.0.0.1", 0)
    tap.port = server.sockets[0].getsockname()[1]
    try:
        yield tap
    finally:
        server.close()
        for task in list(tap._tasks):
            task.cancel()
        await asyncio.gather(*tap._tasks, return_exceptions=True)
