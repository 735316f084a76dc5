"""Run sandboxes: each its own uvicorn server on a free local port, all in one event loop."""

import asyncio
import contextlib
import json
import signal
import socket
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TextIO

import uvicorn

from adapters.sandbox.base import Sandbox
from adapters.sandbox.council import CouncilSandbox
from adapters.sandbox.employment import EmploymentSandbox
from adapters.sandbox.equipment import EquipmentSandbox
from adapters.sandbox.faults import FaultError, faults_for
from adapters.sandbox.health import HealthSandbox
from adapters.sandbox.housing import HousingSandbox
from adapters.sandbox.options import SandboxOptions
from adapters.sandbox.transport import hide_dropped_connections

SANDBOXES: dict[str, type[Sandbox[Any]]] = {
    sandbox.kind: sandbox
    for sandbox in (
        CouncilSandbox,
        HousingSandbox,
        EmploymentSandbox,
        EquipmentSandbox,
        HealthSandbox,
    )
}
KINDS = tuple(SANDBOXES)


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A sandbox serving: where it is and how to call it."""

    name: str
    kind: str
    url: str
    credentials: dict[str, str]

    def announcement(self) -> dict[str, str]:
        """The JSON line `onebudget sandbox up` prints for it."""
        return {"name": self.name, "kind": self.kind, "url": self.url}


class SharedLoopServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its caller: several share one event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Capture nothing."""
        yield


def _bound_socket(host: str) -> socket.socket:
    """A socket bound to a free port of host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it each keep-alive answer waits 40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def _url(host: str, sock: socket.socket) -> str:
    """The base URL of a bound socket."""
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_sandboxes(
    *, faults: Mapping[str, float], kinds: Iterable[str], options: SandboxOptions
) -> list[Sandbox[Any]]:
    """The sandboxes of these kinds, with their faults; FaultError for a setting that fits none."""
    kinds = list(kinds)
    unknown = [kind for kind in kinds if kind not in SANDBOXES]
    if unknown:
        raise ValueError(f"no sandbox of kind {unknown[0]!r}: the kinds are {', '.join(KINDS)}")
    sandboxes = [SANDBOXES[kind](options=options) for kind in kinds]
    for sandbox in sandboxes:
        sandbox.faults.set(faults_for(sandbox.kind, sandbox.fault_names, faults))
    for key in faults:
        target, _, name = key.rpartition(":")
        if target and target not in SANDBOXES:
            raise FaultError(f"{key!r}: no sandbox is of kind {target!r}: {', '.join(KINDS)} are")
        if not any(name in s.fault_names for s in sandboxes if target in ("", s.kind)):
            raise FaultError(f"{key!r}: no sandbox running here has the fault {name!r}")
    return sandboxes


@contextlib.asynccontextmanager
async def running_sandboxes(
    *,
    faults: Mapping[str, float] | None = None,
    seed: int = 0,
    kinds: Iterable[str] = KINDS,
    options: SandboxOptions | None = None,
) -> AsyncIterator[dict[str, RunningSandbox]]:
    """Serve the sandboxes (all kinds by default) until the block ends; yields them by kind.

    faults: rates by "NAME" (every sandbox that has the fault) or "KIND:NAME" (one sandbox),
    e.g. {"latency": 0.2, "council:expired_token": 0.5}; rates can change later through
    each sandbox's POST /_sandbox/faults.
    """
    options = replace(options or SandboxOptions(), seed=seed)
    sandboxes = make_sandboxes(faults=faults or {}, kinds=kinds, options=options)
    hide_dropped_connections()
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []
    running: dict[str, RunningSandbox] = {}
    try:
        for sandbox in sandboxes:
            sock = _bound_socket(options.host)
            config = uvicorn.Config(
                sandbox.app(),
                lifespan="off",
                log_config=None,
                access_log=False,
                timeout_keep_alive=5,
                # A request hung by the timeout fault must not hold up the shutdown.
                timeout_graceful_shutdown=1,
            )
            server: uvicorn.Server = SharedLoopServer(config)
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            url = _url(options.host, sock)
            running[sandbox.kind] = RunningSandbox(
                sandbox.name, sandbox.kind, url, sandbox.credentials()
            )
        while not all(server.started for server in servers):
            for task in tasks:
                if task.done():
                    task.result()  # raises why the server could not start
                    raise RuntimeError("a sandbox server stopped while starting")
            await asyncio.sleep(0.01)
        for sandbox in sandboxes:
            await sandbox.start()
        yield running
    finally:
        for sandbox in sandboxes:
            await sandbox.stop()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve_until_stopped(
    *, faults: Mapping[str, float], seed: int, options: SandboxOptions, out: TextIO
) -> None:
    """Serve every sandbox, print one JSON line each, and stop cleanly on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running_sandboxes(faults=faults, seed=seed, options=options) as running:
            for sandbox in running.values():
                print(json.dumps(sandbox.announcement(), ensure_ascii=False), file=out, flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
