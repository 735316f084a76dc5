"""The worker: runs the queue's jobs (service.jobs.kinds) until told to stop, then drains.

pgqueuer takes jobs with FOR UPDATE SKIP LOCKED, so any number of workers share one queue;
it wakes on a NOTIFY when a job is queued, and keeps a heartbeat on each running job, so a
job whose worker died is picked up again by another once its heartbeat is
`worker_heartbeat_seconds` old (an idle worker looks that often). On stop the worker takes
no new job, lets the running ones finish, and closes its connections.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import Job, PgQueuer
from pgqueuer.models import Schedule as CronRun

from service.config import Settings
from service.database import driver_dsn, make_engine, make_sessionmaker
from service.jobs.context import WorkerContext
from service.jobs.enqueue import payload_of
from service.jobs.kinds import JobKind, Schedule, job_kinds, schedules
from service.ops.boundary import log_unexpected

log = logging.getLogger(__name__)

# How the worker's connections show in pg_stat_activity.
APPLICATION_NAME = "onebudget-worker"


def _job_runner(kind: JobKind, context: WorkerContext) -> Callable[[Job], Awaitable[None]]:
    """pgqueuer's entrypoint for a kind: decode the payload, run, log how it went."""

    async def run(job: Job) -> None:
        started = time.monotonic()
        try:
            await kind.run(context, payload_of(job.payload))
        except Exception as error:
            log_unexpected(f"job {kind.name} failed", error)
            raise
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.info("job done", extra={"kind": kind.name, "job_id": job.id, "ms": elapsed_ms})

    return run


def _schedule_runner(schedule: Schedule, context: WorkerContext) -> Callable[[CronRun], Any]:
    """pgqueuer's schedule function for one of ours."""

    async def run(_run: CronRun) -> None:
        try:
            await schedule.run(context)
        except Exception as error:
            log_unexpected(f"schedule {schedule.name} failed", error)
            raise

    return run


@contextlib.asynccontextmanager
async def _queue(url: str, settings: Settings) -> AsyncIterator[tuple[PgQueuer, WorkerContext]]:
    """A PgQueuer on its own connection pool with every kind registered, and our sessions."""
    engine = make_engine(url, pool_size=settings.worker_concurrency)
    pool = await asyncpg.create_pool(
        driver_dsn(url),
        min_size=2,
        max_size=4,  # the listener, the dequeue, heartbeats and the job log
        server_settings={"application_name": APPLICATION_NAME},
    )
    try:
        context = WorkerContext(make_sessionmaker(engine), settings)
        queue = PgQueuer.from_asyncpg_pool(pool)
        for kind in job_kinds():
            runner = _job_runner(kind, context)
            queue.entrypoint(kind.name, concurrency_limit=kind.concurrency_limit)(runner)
        for schedule in schedules():
            queue.schedule(schedule.name, schedule.cron)(_schedule_runner(schedule, context))
        yield queue, context
    finally:
        await pool.close()
        await engine.dispose()


async def run_worker(url: str, settings: Settings, *, stop: asyncio.Event) -> None:
    """Run jobs until `stop` is set (or the queue fails); finish the running ones, then return."""
    async with _queue(url, settings) as (queue, _context):
        batch = max(1, settings.worker_concurrency // 2)
        heartbeat = timedelta(seconds=settings.worker_heartbeat_seconds)
        running = asyncio.create_task(
            queue.run(
                batch_size=batch,
                max_concurrent_tasks=2 * batch,
                heartbeat_timeout=heartbeat,
                # An idle worker looks for jobs gone stale this often (queued ones wake it).
                dequeue_timeout=heartbeat,
            ),
            name="job-queue",
        )
        stopping = asyncio.create_task(stop.wait())
        names = sorted(kind.name for kind in job_kinds())
        log.info("worker started", extra={"kinds": names, "concurrency": 2 * batch})
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            log.info("worker stopping: finishing the running jobs")
            queue.shutdown.set()
            await running  # raises if the queue itself failed
            log.info("worker stopped")
