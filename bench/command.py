"""What every bench command does around its work: a fresh work directory, removed at the end,
and the exit code a person sees for Ctrl-C or a BenchError."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError
from bench.progress import say


def run_command(
    work_prefix: str,
    body: Callable[[Path], int],
    *,
    failure: str = "bench failed",
    before_removing: Callable[[Path], None] | None = None,
) -> int:
    """`body(work_dir)`'s exit code; 130 on Ctrl-C, 1 on a BenchError (said, prefixed by
    `failure`). `before_removing(work_dir)` runs, whatever happened, before the directory goes."""
    work_dir = Path(tempfile.mkdtemp(prefix=work_prefix))
    try:
        return body(work_dir)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BenchError as exc:
        say(f"{failure}: {exc}")
        return 1
    finally:
        if before_removing is not None:
            before_removing(work_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
