"""The embedded PostgreSQL stops when the last process using it exits, and starts again after
a crash."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from service.database import _forget_dead_handles, _forget_stale_postmaster


def test_pids_of_dead_processes_are_forgotten(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / ".handle_pids.json").write_text(json.dumps([int(dead.stdout), os.getpid()]))
    _forget_dead_handles(tmp_path)
    assert json.loads((tmp_path / ".handle_pids.json").read_text()) == [os.getpid()]


def test_a_missing_or_broken_handle_list_is_left_alone(tmp_path: Path) -> None:
    _forget_dead_handles(tmp_path)
    (tmp_path / ".handle_pids.json").write_text("{not json")
    _forget_dead_handles(tmp_path)
    assert (tmp_path / ".handle_pids.json").read_text() == "{not json"


def _postmaster_pid(pgdata: Path, pid: int) -> Path:
    """A postmaster.pid as PostgreSQL writes it, naming pid."""
    pid_file = pgdata / "postmaster.pid"
    lines = [str(pid), str(pgdata), "1795681594", "5432", str(pgdata), "", "  2148843 10", "ready"]
    pid_file.write_text("\n".join(lines) + "\n")
    return pid_file


@contextlib.contextmanager
def _postgres_working_in(folder: Path) -> Iterator[int]:
    """A process named postgres (sleep, by another name) whose working directory is folder."""
    postgres = folder.parent / f"bin-{folder.name}" / "postgres"
    postgres.parent.mkdir()
    postgres.symlink_to(shutil.which("sleep") or "/bin/sleep")
    process = subprocess.Popen([str(postgres), "30"], cwd=folder)
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_the_pid_file_of_a_killed_server_is_removed_though_its_pid_was_reused(
    tmp_path: Path,
) -> None:
    """After a crash or a reboot the old postmaster's pid may be any live process (here ours):
    the wheel would take the server for running and connect to a dead socket. A server of
    another data directory changes nothing."""
    pgdata, elsewhere = tmp_path / "pgdata", tmp_path / "other-pgdata"
    pgdata.mkdir()
    elsewhere.mkdir()
    pid_file = _postmaster_pid(pgdata, os.getpid())
    with _postgres_working_in(elsewhere):
        _forget_stale_postmaster(pgdata)
    assert not pid_file.exists()


def test_the_pid_file_of_a_running_server_is_kept(tmp_path: Path) -> None:
    """A process named postgres working in the data directory is a live server (or its
    backends outliving it): its pid file stays, whatever pid it names."""
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    with _postgres_working_in(pgdata) as pid:
        pid_file = _postmaster_pid(pgdata, pid + 1)
        _forget_stale_postmaster(pgdata)
        assert pid_file.exists()
