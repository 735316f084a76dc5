"""The embedded PostgreSQL of a service's data dir, stopped and started behind its back.

A private server (the wheel's own pg_ctl and postgres binaries), never the system one: the
crash test stops it in fast and immediate mode, or kills it outright, while the service
runs on, and starts it again on the same data directory and socket.
"""

import contextlib
import subprocess
from pathlib import Path
from typing import Any, Literal

import psutil

from service.database import _import_pgserver, start_embedded

StopMode = Literal["fast", "immediate"]


class EmbeddedPostgres:
    """The cluster in DATA_DIR/postgres, as service.database.start_embedded runs it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self._server: Any = None

    def join(self) -> str:
        """Start it or join it (this process becomes one of its handles); our database's URL."""
        url = start_embedded(self.data_dir)
        self._server = _import_pgserver().get_server(self.pgdata)
        return url

    def stop(self, mode: StopMode) -> None:
        """`pg_ctl stop -m MODE`: fast rolls back open transactions and checkpoints;
        immediate quits at once and leaves crash recovery to the next start."""
        pgexec = _import_pgserver().pgexec
        server = self._joined()
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), "-m", mode, "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
            timeout=60,
        )

    def start(self) -> None:
        """Start it again on the same data directory and socket, as the wheel starts it."""
        self._joined().ensure_postgres_running()

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend, as a crash of the machine would."""
        info = _import_pgserver().PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or info.process is None or not _is_postgres(info.process):
            return
        victims = [info.process, *info.process.children(recursive=True)]
        for process in victims:
            with contextlib.suppress(psutil.Error):
                process.kill()
        _, alive = psutil.wait_procs(victims, timeout=10)
        if alive:
            raise RuntimeError(f"PostgreSQL processes survived SIGKILL: {alive}")

    def give_pid_to(self, pid: int) -> None:
        """Make the stale postmaster.pid name a live process that is not PostgreSQL, as after
        a reboot, when the old postmaster's pid often belongs to another process."""
        pid_file = self.pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(pid), *lines[1:]]) + "\n")

    def release(self) -> None:
        """Stop it (the service has stopped) and let go of it.

        The wheel stops a server when its last handle lets go, but only the postmaster it
        knew: after kill() the service started a new one, which it would leave running."""
        if self._server is None:
            return
        info = _import_pgserver().PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None and info.process is not None and _is_postgres(info.process):
            with contextlib.suppress(subprocess.SubprocessError, psutil.Error):
                self.stop("fast")
                info.process.wait(10)  # pg_ctl returns once the pid file is gone, not the process
        self._server.cleanup()
        self._server = None

    def _joined(self) -> Any:
        if self._server is None:
            raise RuntimeError("join() the embedded PostgreSQL first")
        return self._server


def _is_postgres(process: psutil.Process) -> bool:
    """A pid file may name a live process that is not PostgreSQL (give_pid_to, a reboot)."""
    try:
        return process.name() == "postgres"
    except psutil.Error:
        return False
