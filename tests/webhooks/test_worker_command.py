"""`onebudget worker` as an operator runs it: its own process, logs, a clean stop on SIGTERM."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.receiver import receiving
from tests.partners import PartnerFactory
from tests.world import created, make_world, spend_body


def _logs(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines the worker wrote."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_the_worker_command_delivers_and_stops_cleanly_on_sigterm(
    database_url: str, data_dir: Path, partners: PartnerFactory
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        "ONEBUDGET_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--concurrency", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        world = await make_world(partners)
        async with receiving() as receiver:
            hook = {"url": receiver.url, "events": ["spend.posted"]}
            receiver.secret = (
                await created(await world.council.post("/v1/webhook-endpoints", hook))
            )["secret"]
            await created(await world.council.post(world.budget_path("/spends"), spend_body(5)))
            await receiver.until(lambda: len(receiver.accepted) == 1, seconds=60)
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(worker.communicate, timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr
    messages = [entry["message"] for entry in _logs(stderr)]
    assert "worker started" in messages and "webhook delivered" in messages
    assert messages[-2:] == ["worker stopping: finishing the running jobs", "worker stopped"]
    delivered = next(e for e in _logs(stderr) if e["message"] == "webhook delivered")
    assert delivered["event_type"] == "spend.posted" and delivered["status_code"] == 204
    assert receiver.url not in stderr  # the URL may carry a partner's token: never logged
