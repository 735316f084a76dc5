"""Nothing acknowledged is lost when a process dies: the short form of `python -m bench.crash`.

The real `onebudget serve --workers 2` in a subprocess of its own process group; six
clients spend at full speed with real OAuth tokens and a fresh Idempotency-Key each, on a
few budgets and one hot one. Each cycle breaks something at a random moment, brings it
back, retries every unanswered request with its key and body, replays some acknowledged
ones, and checks the ledger in SQL (bench/crash/cycles.py and checks.py say what).
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.crash.cycles import Disruption, Load, Run, run_cycles
from bench.crash.service import Service

LOAD = Load(clients=6, budgets=6, min_seconds=0.2, max_seconds=0.6)


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A short path: the embedded PostgreSQL's socket lives in it (Unix socket paths are short)."""
    with tempfile.TemporaryDirectory(prefix="onebudget-crash-") as folder:
        yield Path(folder)


def _assert_nothing_lost(run: Run) -> None:
    assert run.violations == [], "\n".join(run.violations)
    assert all(cycle.acknowledged > 0 for cycle in run.cycles)
    retried = sum(cycle.retried.replayed + cycle.retried.fresh for cycle in run.cycles)
    assert retried >= sum(sum(cycle.unanswered.values()) for cycle in run.cycles) > 0


async def test_killing_the_service_loses_no_acknowledged_spend(
    database_url: str, work_dir: Path
) -> None:
    service = Service(work_dir / "service", database_url)
    kills = [Disruption.KILL_SERVICE] * 3
    _assert_nothing_lost(
        await run_cycles("service kills", service, database_url, kills, LOAD, print)
    )


@pytest.mark.own_database  # a PostgreSQL of its own: the service's embedded one
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="never uses DATABASE_URL (it stops the service's own embedded PostgreSQL): the"
    " run without DATABASE_URL covers it, and CI's time is short",
)
async def test_stopping_or_killing_the_embedded_database_loses_no_acknowledged_spend(
    work_dir: Path,
) -> None:
    service = Service(work_dir / "embedded", None)
    turns = [
        Disruption.POSTGRES_FAST,
        Disruption.POSTGRES_IMMEDIATE,
        Disruption.KILL_SERVICE_AND_POSTGRES,
    ]
    run = await run_cycles("embedded", service, None, turns, LOAD, print)
    _assert_nothing_lost(run)
