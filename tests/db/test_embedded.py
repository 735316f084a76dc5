"""The embedded PostgreSQL stops when the last process using it exits, even after a crash."""

import json
import os
import subprocess
import sys
from pathlib import Path

from service.database import _forget_dead_handles


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
