"""The service's own jobs, run by every worker process on a light, jittered timer.

Each worker runs every job. A job that must not run in two workers at once (the purge of
old idempotency answers) takes its own database lock and skips its round when another
worker holds it; a job that may (the commitment sweep) locks the rows it changes.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from service.ops.boundary import log_unexpected

log = logging.getLogger(__name__)

# Each wait is the period times a factor drawn from here: workers started together drift
# apart instead of all hitting the database in the same second.
JITTER = (0.9, 1.1)


def backoff(failures: int, *, first: float, cap: float) -> float:
    """The wait after `failures` failures in a row: doubling from `first`, capped, jittered."""
    return min(cap, first * 2.0 ** (failures - 1)) * random.uniform(*JITTER)


@dataclass(frozen=True, slots=True)
class Job:
    """A round of background work: returns how many things it did (None or 0: nothing)."""

    run_once: Callable[[], Awaitable[int | None]]
    every_seconds: float
    done: str  # logged with the count when a round did something
    failed: str  # logged when a round raised; the next round tries again


async def run_every(job: Job) -> None:
    """Run the job forever, about every `job.every_seconds`; an error never ends the loop."""
    while True:
        await asyncio.sleep(job.every_seconds * random.uniform(*JITTER))
        try:
            count = await job.run_once()
        except Exception as error:
            log_unexpected(job.failed, error)
            continue
        if count:
            log.info(job.done, extra={"count": count})


@contextlib.asynccontextmanager
async def running(*jobs: Job) -> AsyncIterator[None]:
    """Run the jobs in the background while inside; stop them (mid-round too) on the way out."""
    tasks = [asyncio.create_task(run_every(job)) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        # Wait for them to stop, so no round still uses the engine the app disposes next.
        await asyncio.gather(*tasks, return_exceptions=True)
