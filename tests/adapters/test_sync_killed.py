"""A sync killed with SIGKILL midway, run by `onebudget sync` or by `onebudget worker`: the
next sync resumes from the cursor the killed one committed, and nothing is lost or doubled.
A killed worker's job is taken by another worker once its heartbeat is stale, and the sync's
advisory lock went with the killed process's session. Also the command's summary."""

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import select, text

from service.config import Settings
from service.syncs.models import AgencyConnection, SyncRun
from service.syncs.queue import SYNC_AGENCY, queue_sync
from tests.adapters.checks import assert_ledger_is_the_awards, sync_until_done
from tests.adapters.world import SyncWorld
from tests.sandboxes import Agency, eventually

# Records the council sandbox serves before any award is added (tests/adapters/test_*).
SEEDED_RECORDS = 5


def _env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        **{f"ONEBUDGET_{name.upper()}": value for name, value in settings.items()},
    }


async def _cursor(world: SyncWorld, kind: str) -> str | None:
    async with world.sessionmaker() as session:
        return await session.scalar(
            select(AgencyConnection.cursor).where(
                AgencyConnection.agency_id == world.agencies[kind]
            )
        )


async def test_a_sync_killed_with_sigkill_resumes_from_its_cursor(
    world: SyncWorld,
    agencies: dict[str, Agency],
    sync_settings: Settings,
    database_url: str,
    data_dir: Path,
) -> None:
    council = agencies["council"]
    awards = [{"person_ref": "RC-100587", "amount": 5_000 + n} for n in range(12)]
    await council.control("POST", "/awards", {"awards": awards})
    await council.set_faults(latency=1.0)  # every page waits: the kill lands midway
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "sync",
        "--agency",
        str(world.agencies["council"]),
        "--json",
        env=_env(database_url, data_dir, agency_page_size="2"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(60):
            while await _cursor(world, "council") is None:
                await asyncio.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    records = SEEDED_RECORDS + len(awards)
    applied = len(await world.allocations("council"))
    assert 0 < applied < records - 2

    await council.set_faults(latency=0.0)
    [outcome] = await sync_until_done(world, sync_settings, "council")
    assert outcome.counts.fetched <= records - 2  # the killed sync's pages were not read again
    await assert_ledger_is_the_awards(world, council, "council")
    async with world.sessionmaker() as session:
        runs = (await session.scalars(select(SyncRun).order_by(SyncRun.started_at))).all()
    assert [(run.status, run.error) for run in runs][0] == (
        "failed",
        "interrupted: the process running it stopped",
    )


async def _runs(world: SyncWorld, kind: str) -> list[SyncRun]:
    """The agency's sync runs, oldest first."""
    async with world.sessionmaker() as session:
        query = (
            select(SyncRun)
            .join(AgencyConnection, AgencyConnection.id == SyncRun.connection_id)
            .where(AgencyConnection.agency_id == world.agencies[kind])
            .order_by(SyncRun.started_at)
        )
        return list((await session.scalars(query)).all())


async def _advisory_locks(world: SyncWorld) -> int:
    """Advisory locks held in this test's database (the syncs' locks: nothing else takes one
    while the worker runs)."""
    async with world.sessionmaker() as session:
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
        return int(held or 0)


async def _sync_jobs(world: SyncWorld) -> list[tuple[int, str]]:
    """The queue's sync jobs: (id, status)."""
    async with world.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT id, status::text FROM pgqueuer WHERE entrypoint = :kind ORDER BY id"),
            {"kind": SYNC_AGENCY},
        )
        return [(int(job_id), str(status)) for job_id, status in rows.all()]


async def _job_log(world: SyncWorld, job_id: int) -> list[str]:
    """What the queue logged of a job, oldest first."""
    async with world.sessionmaker() as session:
        rows = await session.scalars(
            text("SELECT status::text FROM pgqueuer_log WHERE job_id = :id ORDER BY id"),
            {"id": job_id},
        )
        return [str(status) for status in rows.all()]


async def _worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    """`onebudget worker` in a process group of its own (killed as a whole)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def _kill(worker: asyncio.subprocess.Process) -> None:
    if worker.returncode is None:
        os.killpg(worker.pid, signal.SIGKILL)
    await worker.wait()


async def _clear_of_the_schedule(seconds: float = 10.0) -> None:
    """Start clear of the worker's five-minute sync of every agency (a cron on UTC minutes),
    so the killed worker's sync is the job's."""
    to_tick = 300 - time.time() % 300
    if to_tick < seconds:
        await asyncio.sleep(to_tick + 0.5)


async def test_a_worker_killed_midsync_leaves_the_job_to_another_that_resumes(
    world: SyncWorld, agencies: dict[str, Agency], database_url: str, data_dir: Path
) -> None:
    council = agencies["council"]
    awards = [{"person_ref": "RC-100587", "amount": 7_000 + n} for n in range(40)]
    await council.control("POST", "/awards", {"awards": awards})
    records = SEEDED_RECORDS + len(awards)
    await council.set_faults(latency=1.0)  # every page waits: the kill lands midway
    # Two records a page; a job whose worker died is taken again after 2 s, not 30.
    env = _env(database_url, data_dir, agency_page_size="2", worker_heartbeat_seconds="2")
    async with world.sessionmaker() as session, session.begin():
        await queue_sync(session, agency_id=world.agencies["council"])

    await _clear_of_the_schedule()
    first = await _worker(env)
    try:

        async def a_page_is_in() -> bool:
            return await _cursor(world, "council") is not None

        await eventually(a_page_is_in, seconds=15)
        assert await _advisory_locks(world) == 1  # the sync's lock, held by the worker
    finally:
        await _kill(first)
    [killed] = await _runs(world, "council")
    # Killed midway: a page in with its cursor, the run unfinished, the job left picked.
    assert killed.status == "running" and await _cursor(world, "council") is not None
    assert 2 <= killed.fetched < records
    assert 0 < len(await world.allocations("council")) < len(awards)
    [(job_id, status)] = await _sync_jobs(world)
    assert status == "picked"

    # Its session died with it, and the sync's advisory lock with the session.
    async def unlocked() -> bool:
        return await _advisory_locks(world) == 0

    await eventually(unlocked, seconds=5)

    await council.set_faults(latency=0.0)
    second = await _worker(env)
    try:

        async def job_done() -> bool:
            return "successful" in await _job_log(world, job_id)

        await eventually(job_done, seconds=15)
        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            await second.wait()
    finally:
        await _kill(second)
    assert second.returncode == 0
    # The killed worker's job itself was taken again once its heartbeat was stale (picked
    # twice), and done; no other job was queued.
    assert await _job_log(world, job_id) == ["queued", "picked", "picked", "successful"]
    assert await _sync_jobs(world) == []
    runs = await _runs(world, "council")
    assert (runs[0].id, runs[0].status, runs[0].error) == (
        killed.id,
        "failed",
        "interrupted: the process running it stopped",
    )
    # The job's run read on from the killed run's cursor: every record read once in all.
    assert runs[1].status == "succeeded" and runs[1].error is None
    assert killed.fetched + sum(run.fetched for run in runs[1:]) == records
    await assert_ledger_is_the_awards(world, council, "council")


async def test_the_command_prints_the_summary_as_json(
    world: SyncWorld, agencies: dict[str, Agency], database_url: str, data_dir: Path
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "sync",
        "--json",
        env=_env(database_url, data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    assert child.returncode == 0, err.decode()
    summary = json.loads(out)
    by_kind = {row["agency"].split()[1]: row for row in summary}
    assert set(by_kind) == {"council", "housing", "employment", "equipment", "health"}
    assert by_kind["council"]["created"] == 3 and by_kind["council"]["dead_lettered"] == 2
    assert all(row["status"] == "succeeded" for row in summary)
