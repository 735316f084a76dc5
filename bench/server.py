"""The service under test, started as README tells an operator to run it in production."""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.errors import BenchError


def installed(command: str) -> str | None:
    """A command pip installed: beside this Python first (a venv not activated), else on PATH."""
    beside = Path(sys.executable).with_name(command)
    return str(beside) if beside.exists() else shutil.which(command)


def onebudget_command() -> str:
    """The installed `onebudget` script, or BenchError."""
    found = installed("onebudget")
    if found is None:
        raise BenchError("the `onebudget` command is not installed: run `pip install -e .`")
    return found


def production_environment(
    database_url: str,
    data_dir: Path,
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """This environment without ONEBUDGET_* overrides, plus README's production settings
    and any `settings` a bench needs (e.g. ONEBUDGET_WEBHOOK_ALLOWED_NETWORKS)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ONEBUDGET_")}
    return {
        **inherited,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        "ONEBUDGET_DOCS": "false",
        "ONEBUDGET_METRICS": "false",
        **({"ONEBUDGET_PORT": str(port)} if port is not None else {}),
        **(settings or {}),
    }


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Child:
    """An `onebudget` command the bench runs (in its own process group), logging to a file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"(no log at {self.log_path})"

    def stop(self) -> None:
        """SIGTERM (a graceful stop, as a service manager sends), SIGKILL after 15 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its workers too
            self.process.wait(timeout=10)


def spawn(
    args: Sequence[str], env: Mapping[str, str], log_path: Path, wrapper: Sequence[str] = ()
) -> Child:
    """Start `onebudget ARGS` (after `wrapper`, a command that runs it, e.g. valgrind), its
    output (stdout and stderr) going to log_path."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*wrapper, onebudget_command(), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
        )
    return Child(process, log_path)


@dataclass
class Server(Child):
    """The `onebudget serve` process and where it listens."""

    base_url: str

    def workers(self) -> int:
        """How many worker processes serve requests (uvicorn spawns them; none: it serves)."""
        try:
            return len(self.worker_pids()) or 1
        except psutil.Error:
            return 0

    def worker_pids(self) -> list[int]:
        """The worker processes uvicorn spawned (none when the process serves alone)."""
        children = psutil.Process(self.process.pid).children()
        return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]


async def start_server(
    database_url: str,
    data_dir: Path,
    *,
    workers: int | None = None,
    settings: Mapping[str, str] | None = None,
    wrapper: Sequence[str] = (),
    ready_within: float = 90,
) -> Server:
    """`onebudget serve` on a free loopback port, migrating first; ready when /readyz is 200.

    With `workers`, that many worker processes; else serve's default (one per core).
    `settings`: more environment variables for it (see production_environment).
    `wrapper`: a command that runs it (see spawn), slower to start: give it `ready_within`.
    """
    port = free_port()
    command = ["serve", *(["--workers", str(workers)] if workers else [])]
    env = production_environment(database_url, data_dir, port, settings)
    child = spawn(command, env, data_dir / "server.log", wrapper)
    process = child.process
    server = Server(process, child.log_path, f"http://127.0.0.1:{port}")
    deadline = time.perf_counter() + ready_within
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=5) as http:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise BenchError(f"the service exited at start:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return server
            await asyncio.sleep(0.2)
    server.stop()
    raise BenchError(f"the service was not ready within {ready_within:.0f} s:\n{server.log_tail()}")
