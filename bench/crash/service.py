"""`onebudget serve` as an operator starts it, in a process group of its own, so it can be
killed outright (master and workers at once) and started again on the same data dir."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from bench.errors import BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 60.0


def serve_command(workers: int) -> list[str]:
    """The installed console script, as an operator types it (the module if not installed)."""
    script = Path(sys.executable).with_name("onebudget")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    return [*entry, "serve", "--workers", str(workers)]


def service_environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The environment of the service: port 0 (the kernel picks one), quiet logs, and
    DATABASE_URL only when given (without it the service runs its embedded PostgreSQL)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        ONEBUDGET_DATA_DIR=str(data_dir),
        ONEBUDGET_HOST="127.0.0.1",
        ONEBUDGET_PORT="0",
        ONEBUDGET_LOG_LEVEL="WARNING",
    )
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def _listening_port(pid: int) -> int | None:
    """The TCP port the server process listens on, once it has bound one."""
    with contextlib.suppress(psutil.Error):
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                return int(connection.laddr.port)
    return None


class Service:
    """One `onebudget serve --workers N`; `start()` again after `kill()` restarts it."""

    def __init__(self, data_dir: Path, database_url: str | None, workers: int = 2) -> None:
        self.data_dir = data_dir
        self.env = service_environment(data_dir, database_url)
        self.workers = workers
        self.log_path = data_dir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.starts = 0

    @property
    def pid(self) -> int:
        """The master process's pid (it leads the process group)."""
        if self.process is None:
            raise BenchError("the service is not running")
        return self.process.pid

    def processes(self) -> set[int]:
        """The pids of the master and everything it started (its workers)."""
        master = psutil.Process(self.pid)
        return {master.pid, *(child.pid for child in master.children(recursive=True))}

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no service log)"
        return "\n".join(text.splitlines()[-lines:])

    async def start(self) -> float:
        """Start it and wait until /readyz answers 200; the seconds that took."""
        started = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                serve_command(self.workers),
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches every worker
            )
        self.starts += 1
        process = self.process
        deadline = started + READY_WITHIN_SECONDS
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
            while time.perf_counter() < deadline:
                if process.poll() is not None:
                    raise BenchError(
                        f"the service exited with code {process.returncode} while starting:\n"
                        f"{self.log_tail()}"
                    )
                port = _listening_port(process.pid)
                if port is not None:
                    self.base_url = f"http://127.0.0.1:{port}"
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{self.base_url}/readyz")).status_code == 200:
                            return time.perf_counter() - started
                await asyncio.sleep(0.05)
        self.kill()
        raise BenchError(
            f"the service was not ready within {READY_WITHIN_SECONDS:.0f} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL to the whole process group, as `kill -9 -PGID`; wait until all are gone."""
        if self.process is None:
            return
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_members(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None

    def stop(self) -> None:
        """SIGTERM (a graceful stop, which detaches from the embedded PostgreSQL), then
        SIGKILL to the group if it is not gone within 15 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        self.kill()


def _group_members(group: int) -> list[int]:
    """Live processes of the process group (a worker may outlive its master briefly)."""
    members = []
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):  # gone meanwhile
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members
