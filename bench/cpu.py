"""Where the CPU went during a timed phase, read from /proc.

On a 2-core machine the load generator competes with the service for CPU, so each phase
reports the share (in % of one core) of the server's processes, the load generator (wrk or
pgbench), the PostgreSQL backends serving the phase's database, and everything else: the
"other" column shows anything running meanwhile (e.g. a test suite), which makes the
figures lower than they should be. The backends are found in pg_stat_activity, so the
PostgreSQL server must run on this machine for that column to mean anything.
"""

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = $1"


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the machine (busy), each role, and every process."""

    wall: float
    machine: float
    server: float
    load: float
    database: dict[int, float]
    processes: dict[int, tuple[str, float]]
    ours: frozenset[int]


def _machine_busy() -> float:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(v) for v in fields[:8]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / _TICK


def _tree(pid: int) -> set[int]:
    """A process and all its descendants (the server's workers, ceiling.sh's pgbench)."""
    try:
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return set()


def _process_cpu(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / _TICK


def _all_processes() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds, to name what else ran during a phase."""
    found: dict[int, tuple[str, float]] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            name = text[text.find("(") + 1 : text.rfind(")")]
            stat = text.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (name, (int(stat[11]) + int(stat[12])) / _TICK)
    return found


async def machine_load_of_others(seconds: float = 1.0) -> float:
    """Percent of one core that other processes used over the next `seconds`."""
    machine, own, wall = _machine_busy(), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - wall
    used = (_machine_busy() - machine) - (time.process_time() - own)
    return max(used, 0.0) / elapsed * 100


class CpuMeter:
    """Samples the CPU of the server, a load generator, and one database's backends.

    `monitor` is an asyncpg connection to any database of the same PostgreSQL server.
    """

    def __init__(self, server_pid: int, monitor: Any) -> None:
        self.server_pid = server_pid
        self.monitor = monitor

    async def backends(self, database: str) -> dict[int, float]:
        """The CPU seconds so far of each backend serving the database now."""
        rows = await self.monitor.fetch(BACKENDS, database)
        return {row["pid"]: _process_cpu(row["pid"]) for row in rows}

    async def sample(self, *, load_pid: int, database: str) -> CpuSample:
        backends = await self.backends(database)
        # The load generator's tree less the server's: the bench itself may be the load
        # (bench.sync's sandbox and receiver) and the server its child.
        server = _tree(self.server_pid)
        load = _tree(load_pid) - server
        return CpuSample(
            wall=time.perf_counter(),
            machine=_machine_busy(),
            server=sum(_process_cpu(pid) for pid in server),
            load=sum(_process_cpu(pid) for pid in load),
            database=backends,
            processes=_all_processes(),
            ours=frozenset({*server, *load, *backends, os.getpid()}),
        )


@dataclass(frozen=True)
class CpuShare:
    """Percent of one core used during a phase (the machine total is out of 100 x cores)."""

    server: float
    load: float
    database: float
    other: float
    machine: float
    top_others: tuple[tuple[str, float], ...]

    @classmethod
    def between(cls, start: CpuSample, end: CpuSample) -> "CpuShare":
        wall = max(end.wall - start.wall, 1e-9)
        server = max(end.server - start.server, 0.0) / wall * 100
        load = max(end.load - start.load, 0.0) / wall * 100
        used = sum(cpu - start.database.get(pid, 0.0) for pid, cpu in end.database.items())
        database = used / wall * 100
        machine = (end.machine - start.machine) / wall * 100
        other = max(machine - server - load - database, 0.0)
        ours = start.ours | end.ours
        others: dict[str, float] = {}
        for pid, (name, cpu) in end.processes.items():
            if pid not in ours:
                before = start.processes.get(pid, (name, 0.0))[1]
                others[name] = others.get(name, 0.0) + (cpu - before) / wall * 100
        ranked = sorted(others.items(), key=lambda item: item[1], reverse=True)
        top = tuple((name, share) for name, share in ranked[:3] if share >= 1)
        return cls(server, load, database, other, machine, top)

    def describe(self, server: str = "server", load: str = "load generator") -> str:
        """One line; `server` and `load` name the two roles as the phase had them."""
        cores = os.cpu_count() or 1
        return (
            f"cpu (% of one core): {server} {self.server:.0f}, {load} {self.load:.0f},"
            f" PostgreSQL backends {self.database:.0f}, other {self.other:.0f}"
            f" ({', '.join(f'{n} {v:.0f}' for n, v in self.top_others) or 'nothing named'});"
            f" machine {self.machine:.0f} of {cores * 100}"
        )
