"""`onebudget sync` killed with SIGKILL midway: the next sync resumes from the cursor the
killed one committed, and nothing is lost or doubled. Also the command's summary."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from service.config import Settings
from service.syncs.models import AgencyConnection, SyncRun
from tests.adapters.checks import assert_ledger_is_the_awards, sync_until_done
from tests.adapters.world import SyncWorld
from tests.sandboxes import Agency


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
    applied = len(await world.allocations("council"))
    assert 0 < applied < 15

    await council.set_faults(latency=0.0)
    [outcome] = await sync_until_done(world, sync_settings, "council")
    assert outcome.counts.fetched <= 17 - 2  # the killed sync's pages were not read again
    await assert_ledger_is_the_awards(world, council, "council")
    async with world.sessionmaker() as session:
        runs = (await session.scalars(select(SyncRun).order_by(SyncRun.started_at))).all()
    assert [(run.status, run.error) for run in runs][0] == (
        "failed",
        "interrupted: the process running it stopped",
    )


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
