"""The timed commands, run as an operator runs them: `onebudget sync` to its end, and
`onebudget worker` until the outbox is delivered; with progress lines and where the CPU went.

Each phase has two times: the command's (from starting it: the Python start-up, the
migration check and the connection included, as an operator waits for it) and the work's
own, from the database's timestamps (the sync run's start to its finish; the first
delivery attempt to the last delivery).
"""

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import profile
from bench.cpu import CpuMeter, CpuSample, CpuShare
from bench.errors import BenchError
from bench.progress import say
from bench.server import Child, spawn

PROGRESS_EVERY = 5.0  # seconds between progress lines
STALLED_AFTER = 60.0  # seconds without a delivery before the bench gives up
BACKENDS_EVERY = 0.25  # seconds between samples of the backends' CPU
PROFILE_CAP = 3600  # seconds: py-spy stops sooner, when the command exits


@dataclass
class Timed:
    """One timed phase: how many things it did, in how long, and where the CPU went."""

    name: str
    unit: str  # what it counts: "awards", "deliveries"
    items: int
    command_seconds: float
    work_seconds: float
    cpu: CpuShare | None = None
    roles: tuple[str, str] = ("command", "bench")  # who the CPU's server and load were
    profiled: bool = False

    @property
    def command_rate(self) -> float:
        return self.items / self.command_seconds if self.command_seconds > 0 else 0.0

    @property
    def work_rate(self) -> float:
        return self.items / self.work_seconds if self.work_seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"result: {self.name}: {self.items:,} {self.unit} in {self.command_seconds:.1f} s"
            f" ({self.command_rate:,.0f}/s; the work alone {self.work_seconds:.1f} s,"
            f" {self.work_rate:,.0f}/s)"
        )


@dataclass(frozen=True)
class Commands:
    """What the timed commands share: how they run, where they log, what watches them."""

    env: Mapping[str, str]
    work_dir: Path
    probe: Any  # asyncpg connection to the bench database: progress and times
    monitor: Any  # asyncpg connection to another database of the server: CPU of backends
    database: str
    profile_format: str | None = None  # --profile: py-spy records each command
    profile_dir: Path | None = None


class Metered:
    """A command being timed: the CPU of it (the "server" role), of this process (the sandbox
    or the receiver: the "load" role) and of the database's backends, and its profile.

    The command's connections end with it, so their backends are sampled as it runs (every
    BACKENDS_EVERY seconds): the last moments of a backend that ended are not counted."""

    def __init__(self, child: Child, commands: Commands) -> None:
        self.child = child
        self.commands = commands
        self.meter = CpuMeter(child.process.pid, commands.monitor)
        self.started = time.perf_counter()
        self.first: CpuSample | None = None
        self.seen: dict[int, float] = {}  # every backend's CPU seconds when last sampled
        self.stopping = asyncio.Event()
        self.watcher: asyncio.Task[None] | None = None
        self.recording: asyncio.Task[Path] | None = None

    @property
    def pid(self) -> int:
        return self.child.process.pid

    async def begin(self, name: str) -> None:
        commands = self.commands
        if commands.profile_format is not None and commands.profile_dir is not None:
            slug = name.replace(",", "").replace(" ", "-")
            self.recording = asyncio.create_task(
                profile.record(
                    self.pid, PROFILE_CAP, commands.profile_dir, commands.profile_format, slug
                )
            )
        self.first = await self._sample()
        self.watcher = asyncio.create_task(self._watch())

    async def _sample(self) -> CpuSample:
        return await self.meter.sample(load_pid=os.getpid(), database=self.commands.database)

    async def _watch(self) -> None:
        while not self.stopping.is_set():
            self.seen.update(await self.meter.backends(self.commands.database))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), BACKENDS_EVERY)

    def exited(self) -> bool:
        """Whether the command ended, leaving it unreaped: its CPU times stay readable."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.pid, flags) is not None

    async def share(self) -> CpuShare | None:
        """The shares since begin(); once, before the command is reaped."""
        if self.first is None or self.watcher is None:
            return None
        self.stopping.set()
        await self.watcher  # not cancelled: the monitor connection is then free again
        last = await self._sample()
        backends = {**self.seen, **last.database}
        last = replace(last, database=backends, ours=last.ours | backends.keys())
        return CpuShare.between(self.first, last)

    async def profiled(self, name: str) -> bool:
        """Once the command has exited: where py-spy wrote, and what it found."""
        if self.recording is None or self.commands.profile_format is None:
            return False
        profile.report(await self.recording, self.commands.profile_format, phase=name)
        return True


@contextlib.asynccontextmanager
async def metered(name: str, args: Sequence[str], commands: Commands) -> AsyncIterator[Metered]:
    """`onebudget ARGS`, started and metered; stopped (and its profile dropped) if the block
    fails, e.g. on Ctrl-C."""
    log = commands.work_dir / f"{name.replace(',', '').replace(' ', '-')}.log"
    command = Metered(spawn(args, commands.env, log), commands)
    try:
        await command.begin(name)
        yield command
    except BaseException:
        for task in (command.watcher, command.recording):
            if task is not None:
                task.cancel()
        command.child.stop()
        raise


# The connection's latest sync run.
LATEST_RUN = """
SELECT r.* FROM sync_run AS r JOIN agency_connection AS c ON c.id = r.connection_id
WHERE c.agency_id = $1 ORDER BY r.started_at DESC LIMIT 1
"""
COUNTS = ("fetched", "created", "unchanged", "adjusted", "confirmed", "dead_lettered")


async def timed_sync(
    name: str, *, agency_id: str, awards: int, commands: Commands
) -> tuple[Timed, dict[str, int]]:
    """`onebudget sync --agency ID` to its end; the phase, and the run's counts."""
    probe = commands.probe
    async with metered(name, ["sync", "--agency", agency_id, "--json"], commands) as command:
        last_report = time.perf_counter()
        while not command.exited():
            await asyncio.sleep(0.05)
            if time.perf_counter() - last_report >= PROGRESS_EVERY:
                last_report = time.perf_counter()
                run = await probe.fetchrow(LATEST_RUN, agency_id)
                if run is not None:
                    done = ", ".join(f"{n.replace('_', '-')} {run[n]:,}" for n in COUNTS[1:])
                    say(f"{name}: {run['fetched']:,}/{awards:,} awards read: {done}")
        seconds = time.perf_counter() - command.started
        cpu = await command.share()
        code = command.child.process.wait()
        profiled = await command.profiled(name)
    run = await probe.fetchrow(LATEST_RUN, agency_id)
    if code != 0 or run is None or run["status"] != "succeeded":
        raise BenchError(f"`onebudget sync` failed (exit {code}):\n{command.child.log_tail()}")
    counts = {n: int(run[n]) for n in COUNTS}
    work = (run["finished_at"] - run["started_at"]).total_seconds()
    timed = Timed(name, "awards", counts["fetched"], seconds, work, cpu, ("sync", "sandbox"))
    timed.profiled = profiled
    say(timed.describe())
    return timed, counts


DELIVERED = """
SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered, count(*) AS messages,
       max(delivered_at) AS last
FROM webhook_message
"""
FIRST_ATTEMPT = "SELECT min(started_at) FROM webhook_attempt"


async def _until_delivered(command: Metered, probe: Any) -> Any:
    """Poll the outbox until every message is delivered; its last row of counts."""
    last_report = last_change = time.perf_counter()
    seen = -1
    while True:
        row = await probe.fetchrow(DELIVERED)
        now = time.perf_counter()
        if row["delivered"] == row["messages"]:
            return row
        if row["delivered"] != seen:
            seen, last_change = row["delivered"], now
        if now - last_change >= STALLED_AFTER:
            raise BenchError(
                f"no webhook delivered for {STALLED_AFTER:.0f} s ({seen:,}/{row['messages']:,}):"
                f"\n{command.child.log_tail()}"
            )
        if command.exited():
            raise BenchError(f"`onebudget worker` exited:\n{command.child.log_tail()}")
        if now - last_report >= PROGRESS_EVERY:
            last_report = now
            say(f"deliveries: {row['delivered']:,}/{row['messages']:,} webhook messages delivered")
        await asyncio.sleep(0.1)


async def timed_worker(commands: Commands) -> tuple[Timed, int]:
    """`onebudget worker` from its start until the outbox is delivered, then stopped as a
    service manager stops it (SIGTERM: it finishes its jobs); the phase and its exit code."""
    probe = commands.probe
    # The database's clock, as the delivery times it is compared with.
    launched = await probe.fetchval("SELECT clock_timestamp()")
    async with metered("deliveries", ["worker"], commands) as command:
        row = await _until_delivered(command, probe)
        cpu = await command.share()
        command.child.stop()
        profiled = await command.profiled("deliveries")
    first = await probe.fetchval(FIRST_ATTEMPT)
    seconds = (row["last"] - launched).total_seconds()
    work = (row["last"] - first).total_seconds()
    timed = Timed("deliveries", "deliveries", row["messages"], seconds, work, cpu)
    timed.roles, timed.profiled = ("worker", "receiver"), profiled
    say(timed.describe())
    return timed, command.child.process.returncode
