"""The two load generators, run as child processes: wrk against the service over HTTP, and
the fixed raw-PostgreSQL ceiling (ceiling/ceiling.sh, pgbench), with CPU and progress
watched while they run.
"""

import asyncio
import contextlib
import os
import random
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.cpu import CpuMeter, CpuShare
from bench.errors import BenchError
from bench.progress import say

REQUESTS_LUA = Path(__file__).with_name("requests.lua")
CEILING_SH = Path(__file__).with_name("ceiling") / "ceiling.sh"
WRK_THREADS = 2
WRK_TIMEOUT = "10s"  # wrk's default of 2 s would count a slow answer as a socket error
PROGRESS_EVERY = 5.0
COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = $1"


def require_wrk() -> None:
    """wrk, or BenchError saying how to install it."""
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk (the HTTP load generator, written in C) is not installed:"
            " install it with `apt-get install -y wrk`, then run the bench again"
        )


def require_tools() -> None:
    """wrk and the PostgreSQL client tools, or BenchError saying how to install them."""
    require_wrk()
    missing = [tool for tool in ("pgbench", "psql", "createdb", "dropdb") if not shutil.which(tool)]
    if missing:
        raise BenchError(
            f"{', '.join(missing)} not installed (the ceiling needs them): install the"
            " PostgreSQL client tools with `apt-get install -y postgresql-client`"
        )


@dataclass
class Measured:
    """One timed phase: expected answers per second, latency, and everything else counted."""

    name: str
    rate: float
    answered: int = 0
    latency_ms: tuple[float, float] | None = None  # p50, p99
    unexpected: dict[int, int] = field(default_factory=dict)  # status -> count
    socket_errors: int = 0
    cpu: CpuShare | None = None

    @property
    def failed(self) -> int:
        return sum(self.unexpected.values()) + self.socket_errors

    def failure_text(self) -> str:
        parts = [f"HTTP {status} x{count:,}" for status, count in sorted(self.unexpected.items())]
        if self.socket_errors:
            parts.append(f"socket errors x{self.socket_errors:,}")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class Watch:
    """What to watch while a load generator runs: CPU of its roles, commits of its database."""

    meter: CpuMeter
    monitor: Any  # asyncpg connection to the same server
    database: str
    label: str
    seconds: float


async def _commits(watch: Watch) -> int:
    return int(await watch.monitor.fetchval(COMMITS, watch.database) or 0)


async def _watch(watch: Watch, load_pid: Callable[[], int | None]) -> CpuShare | None:
    """CPU shares over the steady part of the run, and a progress line every few seconds."""
    pid = None
    for _ in range(600):  # pgbench starts after ceiling.sh has made and seeded its database
        if (pid := load_pid()) is not None:
            break
        await asyncio.sleep(0.1)
    if pid is None:
        return None
    started = time.perf_counter()
    margin = min(0.5, watch.seconds / 4)  # leave out connecting and stopping
    await asyncio.sleep(margin)
    first = await watch.meter.sample(load_pid=pid, database=watch.database)
    commits, at = await _commits(watch), time.perf_counter()
    end = started + watch.seconds - margin
    while (left := end - time.perf_counter()) > 0:
        await asyncio.sleep(min(PROGRESS_EVERY, left))
        now_commits, now = await _commits(watch), time.perf_counter()
        say(
            f"  {watch.label}: {now - started:3.0f}s,"
            f" {(now_commits - commits) / (now - at):,.0f} commits/s in its database"
        )
        commits, at = now_commits, now
    return CpuShare.between(first, await watch.meter.sample(load_pid=pid, database=watch.database))


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    """SIGINT to the child's process group (ceiling.sh's trap drops its database), then KILL."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=10)


async def run_load(
    command: list[str],
    *,
    env: Mapping[str, str],
    load_pid: Callable[[int], int | None],
    watch: Callable[[int], Watch] | None = None,
    started: Callable[[int], None] = lambda pid: None,
) -> tuple[int, str, CpuShare | None]:
    """Run a load generator in its own process group; exit code, output, CPU shares.

    Each callable gets the child's pid: `load_pid` finds the load generator's own pid from
    it, `watch` says what to watch, and `started` is told it at once (to clean up what the
    child leaves behind if the bench is interrupted).
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the bench, which stops it in order
    )
    started(process.pid)
    watcher = (
        asyncio.create_task(_watch(watch(process.pid), lambda: load_pid(process.pid)))
        if watch is not None
        else None
    )
    try:
        output, _ = await process.communicate()
        cpu = None
        if watcher is not None:
            # Done by now, unless the child failed before its load generator started.
            with contextlib.suppress(TimeoutError):
                cpu = await asyncio.wait_for(watcher, timeout=5)
    except BaseException:
        if watcher is not None:
            watcher.cancel()
        await _stop_group(process)
        raise
    return process.returncode or 0, output.decode(errors="replace"), cpu


# --- wrk against the service --------------------------------------------------------------


def _parse_wrk(output: str) -> dict[str, int]:
    """The `bench-result` line requests.lua prints at the end, as numbers."""
    for line in output.splitlines():
        if line.startswith("bench-result "):
            return {
                key: int(value) for key, value in (item.split("=") for item in line.split()[1:])
            }
    raise BenchError(f"wrk gave no result line; its output:\n{output}")


async def run_wrk(
    name: str,
    url: str,
    *,
    mode: str,
    token: str,
    connections: int,
    seconds: int,
    budgets_file: Path | None = None,
    watch: Callable[[int], Watch] | None = None,
) -> Measured:
    """wrk with requests.lua: mode "spend" (expects 201) or "read" (GET url, expects 200)."""
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_EXPECT": "201" if mode == "spend" else "200",
        "BENCH_TOKEN": token,
        "BENCH_SEED": str(random.SystemRandom().randrange(1, 2**31)),
        "BENCH_BUDGETS": str(budgets_file or ""),
    }
    threads = min(WRK_THREADS, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", WRK_TIMEOUT, "-s", str(REQUESTS_LUA), url]
    code, output, cpu = await run_load(command, env=env, load_pid=lambda pid: pid, watch=watch)
    if code != 0:
        raise BenchError(f"wrk failed (exit {code}):\n{output}")
    found = _parse_wrk(output)
    unexpected = {int(k[5:]): v for k, v in found.items() if k.startswith("http_")}
    answered = found["requests"] - sum(unexpected.values())
    errors = ("connect_errors", "read_errors", "write_errors", "timeouts")
    return Measured(
        name=name,
        rate=answered / max(found["duration_us"] / 1e6, 1e-9),
        answered=answered,
        latency_ms=(found["p50_us"] / 1000, found["p99_us"] / 1000),
        unexpected=unexpected,
        socket_errors=sum(found[key] for key in errors),
        cpu=cpu,
    )


# --- the raw-PostgreSQL ceiling -----------------------------------------------------------


def ceiling_database(script_pid: int) -> str:
    """The scratch database ceiling.sh makes (and drops on exit) for itself."""
    return f"onebudget_ceiling_{script_pid}"


def _pgbench_of(script_pid: int) -> int | None:
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(script_pid).children(recursive=True):
            if child.name() == "pgbench":
                return child.pid
    return None


async def run_ceiling(
    name: str,
    *,
    libpq_env: Mapping[str, str],
    connections: int,
    budgets: int,
    seconds: int,
    meter: CpuMeter,
    monitor: Any,
    started: Callable[[int], None],
) -> Measured:
    """ceiling.sh CONNECTIONS BUDGETS SECONDS on the same server: its transfers per second."""
    command = ["bash", str(CEILING_SH), str(connections), str(budgets), str(seconds)]
    code, output, cpu = await run_load(
        command,
        env={**os.environ, **libpq_env},
        load_pid=_pgbench_of,
        watch=lambda pid: Watch(meter, monitor, ceiling_database(pid), name, seconds),
        started=started,
    )
    tps = [line.split()[1] for line in output.splitlines() if line.startswith("ceiling ")]
    if code != 0 or not tps:
        raise BenchError(f"ceiling.sh failed (exit {code}):\n{output}")
    return Measured(name=name, rate=float(tps[0]), cpu=cpu)
