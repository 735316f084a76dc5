"""valgrind's callgrind on the server: the instructions it executes in windows the bench opens.

callgrind runs the process on a simulated CPU and counts the instructions it executes: the
same code on the same input executes the same instructions however busy the machine is, so
a count repeats where a time does not. The server starts with counting off
(--instr-atstart=no: its start-up and the warm-up are not counted); callgrind_control opens a
window (--instr=on), closes it (--instr=off) and dumps what it counted (--dump, which also
zeroes the counts) to a file of its own, whose total callgrind_annotate prints.
"""

import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.errors import BenchError

T = TypeVar("T")
TOOLS = ("valgrind", "callgrind_control", "callgrind_annotate")
DUMP_WITHIN = 60.0  # seconds for a dump's file to appear (callgrind writes it in the server)


def require_callgrind() -> None:
    """valgrind and callgrind's two scripts, or BenchError saying how to install them."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise BenchError(
            f"{', '.join(missing)} not installed (the instruction counts need them):"
            " install it with `apt-get install -y valgrind`, then run the bench again"
        )


def wrapper(out_file: Path) -> list[str]:
    """What runs `onebudget` under callgrind, counting nothing until told: start_server's
    `wrapper`. The Python running the bench runs it (its shebang's, in a venv)."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
        sys.executable,
    ]


def program_totals(annotated: str) -> int:
    """The instructions on callgrind_annotate's totals line, "2,578,123 (100.0%)  PROGRAM
    TOTALS" (older versions print no percentage)."""
    for line in annotated.splitlines():
        if line.rstrip().endswith("PROGRAM TOTALS"):
            return int(line.split()[0].replace(",", ""))
    raise BenchError(f"callgrind_annotate printed no PROGRAM TOTALS line:\n{annotated[:2000]}")


@dataclass(frozen=True)
class Window:
    """What callgrind counted between opening and closing a window."""

    instructions: int
    seconds: float
    dump: Path

    @property
    def rate(self) -> float:
        """Instructions a second."""
        return self.instructions / self.seconds


def per_request(busy: Window, idle: Window, requests: int) -> float:
    """Instructions a request: the busy window's count less what the server executes idle in
    as long (its timers and pings), over the requests it served meanwhile."""
    if requests < 1:
        raise BenchError("no request was served while callgrind counted")
    return (busy.instructions - idle.rate * busy.seconds) / requests


class Callgrind:
    """callgrind_control on the server's process; its dumps beside out_file."""

    def __init__(self, pid: int, out_file: Path) -> None:
        self.pid = pid
        self.out_file = out_file
        self.dumped = 0

    async def control(self, option: str) -> float:
        """Run `callgrind_control OPTION PID`; when it took effect (the middle of the call)."""
        before = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "callgrind_control",
            option,
            str(self.pid),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        text = output.decode(errors="replace")
        # It exits 0 even when it reaches no process; it says "OK." when the process answered.
        if "OK." not in text:
            raise BenchError(f"`callgrind_control {option} {self.pid}` failed:\n{text.strip()}")
        return (before + time.perf_counter()) / 2

    def dumps(self) -> set[Path]:
        # callgrind names each dump OUT_FILE.N, N counting up.
        return set(self.out_file.parent.glob(f"{self.out_file.name}.*"))

    async def count(self, work: Awaitable[T]) -> tuple[Window, T]:
        """Count the server's instructions while `work` runs; the window and work's result."""
        await self.control("--zero")
        opened = await self.control("--instr=on")
        result = await work
        closed = await self.control("--instr=off")
        dump = await self.dump()
        return Window(await annotate_totals(dump), closed - opened, dump), result

    async def dump(self) -> Path:
        """Dump the counts (zeroing them); the new file."""
        before = self.dumps()
        await self.control("--dump")
        self.dumped += 1
        deadline = time.perf_counter() + DUMP_WITHIN
        while not (new := self.dumps() - before):
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"callgrind wrote no dump of {self.out_file} in {DUMP_WITHIN:.0f} s"
                )
            await asyncio.sleep(0.2)
        if len(before) + len(new) != self.dumped:
            # `callgrind_control -d` (or -z, -i) without a pid reaches every callgrind run.
            raise BenchError(
                "the server was dumped by someone else (callgrind_control without a pid?):"
                " the counts may not be this run's; run it again"
            )
        return new.pop()


async def annotate_totals(dump: Path) -> int:
    """The instructions counted in a dump, as callgrind_annotate totals them."""
    process = await asyncio.create_subprocess_exec(
        "callgrind_annotate",
        str(dump),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await process.communicate()
    if process.returncode != 0:
        raise BenchError(f"callgrind_annotate {dump} failed:\n{errors.decode(errors='replace')}")
    return program_totals(output.decode(errors="replace"))
