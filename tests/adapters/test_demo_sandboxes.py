"""`serve --demo --sandboxes`: the demo allocates its agencies' own seeded awards, so the
first sync of each finds every award already there: nothing doubled, the same money."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import func, select

from adapters.demo import agency_ids, connect_and_sync, sandbox_awards
from adapters.sandbox import RunningSandbox
from service.allocations.models import Allocation
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.demo import PEOPLE, load_once
from tests.sandboxes import Agency


async def _allocated(url: str) -> tuple[int, int]:
    """All allocations' money (confirmed and indicative alike) and how many are untagged."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            total = await session.scalar(select(func.sum(Allocation.amount)))
            untagged = await session.scalar(
                select(func.count()).where(Allocation.award_reference.is_(None))
            )
            return int(total or 0), int(untagged or 0)
    finally:
        await engine.dispose()


async def test_the_first_sync_of_the_demo_agencies_adds_no_money(
    database_url: str,
    agencies: dict[str, Agency],
    agency_sandboxes: dict[str, RunningSandbox],
    sync_settings: Settings,
    tmp_path: Path,
) -> None:
    # Pages long enough that a loan issued and recalled is one page: only its end applies.
    settings = sync_settings.model_copy(update={"data_dir": tmp_path, "agency_page_size": 100})
    await load_once(settings, database_url, sandbox_awards())
    before, untagged = await _allocated(database_url)
    demo_money = sum(amount for p in PEOPLE for _, amount, _ in p.allocations)
    assert (before, untagged) == (demo_money, 0)  # the same sums, every one an award

    ids = await agency_ids(database_url)
    urls = {kind: sandbox.url for kind, sandbox in agency_sandboxes.items()}
    outcomes = await connect_and_sync(settings, database_url, ids, urls, "whsec_MTIzNDU2")
    assert {kind for kind, _ in outcomes} == {"council", "housing", "employment", "equipment"}
    for kind, outcome in outcomes:
        assert outcome.status == "succeeded", (kind, outcome.error)
        assert outcome.counts.created == outcome.counts.adjusted == 0, (kind, outcome.counts)
        assert outcome.counts.pushed > 0  # the demo's spends went back to each agency
    assert await _allocated(database_url) == (before, 0)
    credentials = tmp_path / "agency-credentials" / "council.json"
    assert credentials.stat().st_mode & 0o077 == 0


def test_serve_demo_sandboxes_syncs_at_start_and_stops_its_sandboxes(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(tmp_path),
        "ONEBUDGET_LOG_LEVEL": "INFO",
        "ONEBUDGET_PORT": "0",
    }
    out, err = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--demo", "--sandboxes", "--workers", "1"],
        env=env,
        stdout=out,
        stderr=err,
        text=True,
    )
    try:
        for _ in range(600):
            if "Uvicorn running" in os.pread(err.fileno(), 1 << 20, 0).decode() or server.poll():
                break
            time.sleep(0.1)
        children = psutil.Process(server.pid).children(recursive=True)
        assert any("sandbox" in child.cmdline() for child in children)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    printed = os.pread(out.fileno(), 1 << 20, 0).decode()
    assert server.returncode == 0, os.pread(err.fileno(), 1 << 20, 0).decode()
    assert "onebudget sync" in printed and printed.count("succeeded") == 4
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "the sandboxes outlived the service"


def test_sandboxes_without_the_demo_are_refused(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ONEBUDGET_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--sandboxes", "--no-migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "hint: add --demo" in done.stderr
