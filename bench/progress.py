"""Progress lines, printed at once and stamped with the time since the start."""

import time

_STARTED = time.perf_counter()


def say(message: str) -> None:
    """One progress line, flushed, after the seconds elapsed."""
    print(f"[{time.perf_counter() - _STARTED:4.0f}s] {message}", flush=True)
