"""--profile: py-spy samples the server's processes during the timed spread phase (in
`python -m bench.sync`, the sync and the worker during theirs).

py-spy reads the stacks from outside without pausing the processes (--nonblocking), so the
service runs unchanged, though the spread figures of a profiled run are a little lower
(the table marks the phase as profiled). It keeps only samples of threads holding the GIL
(--gil): where Python spends CPU, leaving out threads that wait (idle event loops, the
thread pool, the uvicorn supervisor). "raw" writes collapsed stacks (one line a stack:
frames joined by ";", then a sample count) and prints the functions that used the most
CPU themselves; "flamegraph" (SVG) and "speedscope" (JSON, for speedscope.app) draw them.
"""

import os
from collections import Counter
from pathlib import Path

from bench.errors import BenchError
from bench.load import run_load
from bench.progress import say
from bench.server import installed

SUFFIXES = {"flamegraph": "svg", "speedscope": "speedscope.json", "raw": "txt"}
RATE = 100  # samples per second per process


def require_py_spy() -> str:
    """The py-spy command, or BenchError saying how to install it."""
    found = installed("py-spy")
    if found is None:
        raise BenchError("--profile needs py-spy: install it with `pip install py-spy`")
    return found


async def record(
    server_pid: int, seconds: int, out_dir: Path, fmt: str, name: str = "spread"
) -> Path:
    """Sample the server and its workers for `seconds` (or until it exits); the file
    written, NAME.SUFFIX in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{name}.{SUFFIXES[fmt]}"
    command = [require_py_spy(), "record", "--pid", str(server_pid), "--subprocesses"]
    command += ["--gil", "--nonblocking", "--rate", str(RATE), "--duration", str(seconds)]
    command += ["--format", fmt, "--output", str(output)]
    code, log, _ = await run_load(command, env=os.environ, load_pid=lambda pid: pid)
    if code != 0 or not output.exists():
        raise BenchError(f"py-spy failed (exit {code}); is ptrace allowed here?\n{log}")
    return output


def top_functions(collapsed: Path, count: int = 15) -> list[tuple[str, float]]:
    """The functions most often on top of the stack in py-spy's raw output, with % of samples."""
    own: Counter[str] = Counter()
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frame = stack.rsplit(";", 1)[-1]
        # A Python frame is "function (file:line)"; anything else ends a process's own
        # line (its command line may hold ";"): a sample in native code, no Python frame.
        if frame.endswith(")") and ":" in frame:
            frame = frame.rsplit(":", 1)[0] + ")"
        else:
            frame = "(native code: no Python frame on the stack)"
        own[frame] += int(samples)
    total = sum(own.values()) or 1
    return [(frame, samples / total * 100) for frame, samples in own.most_common(count)]


def report(path: Path, fmt: str, phase: str = "spread phase") -> None:
    """Say where the profile is and, for raw stacks, what was hot."""
    say(f"profile: {path} ({fmt}; py-spy, {RATE} samples/s per process, {phase})")
    if fmt == "raw":
        for frame, share in top_functions(path):
            say(f"  {share:5.1f}%  {frame}")
