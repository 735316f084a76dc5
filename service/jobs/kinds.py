"""Every kind of job `onebudget worker` runs, and every schedule, registered in this one place.

A job kind is a name (what enqueue() is given) and a coroutine taking the worker's context
and the job's payload (a small JSON object of ids). To add one, write the coroutine in its
feature folder and list it here, as adapters' `sync_agency_job`:

    JobKind(SYNC_AGENCY, sync_agency_job)

and queue it with `await enqueue(session, SYNC_AGENCY, [{"agency_id": ...}])`, or list a
Schedule to run it on a cron expression. A job that raises is logged and dropped (the
feature keeps its own retry state, as webhook delivery does); one that must try again later
enqueues itself with a delay in the transaction that records why.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service.jobs.context import WorkerContext


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job: its name on the queue and what runs it."""

    name: str
    run: Callable[[WorkerContext, dict[str, Any]], Awaitable[None]]
    concurrency_limit: int = 0  # across every worker; 0: unlimited


@dataclass(frozen=True, slots=True)
class Schedule:
    """Work run on a cron expression (UTC), by one worker each time."""

    name: str
    cron: str
    run: Callable[[WorkerContext], Awaitable[None]]


def job_kinds() -> tuple[JobKind, ...]:
    """The job kinds a worker takes from the queue."""
    from adapters.jobs import sync_agency_job
    from service.syncs.queue import SYNC_AGENCY
    from service.webhooks.delivery import deliver_stream
    from service.webhooks.outbox import DELIVER

    # Syncs need no limit here: each holds its agency's lock, and a second one skips.
    return (JobKind(DELIVER, deliver_stream), JobKind(SYNC_AGENCY, sync_agency_job))


def schedules() -> tuple[Schedule, ...]:
    """The worker's cron schedules."""
    from adapters.jobs import sync_every_agency
    from service.webhooks.delivery import sweep

    return (
        # Belt and braces for webhooks: a stream whose job was lost is picked up again.
        Schedule("webhooks_sweep", "* * * * *", sweep),
        # Every connected agency's awards in, and its spend lines out, every five minutes.
        Schedule("sync_agencies", "*/5 * * * *", sync_every_agency),
    )
