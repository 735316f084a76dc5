"""Background jobs: a failed round is logged and the next one runs; leaving stops them."""

import asyncio
import logging

import pytest

from service.ops.background import Job, running


async def test_a_failed_round_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds: list[int] = []

    async def flaky() -> int:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database went away")
        return 1

    job = Job(flaky, every_seconds=0.01, done="round done", failed="round failed; again later")
    with caplog.at_level(logging.INFO, logger="service"):
        async with running(job):
            for _ in range(200):
                if len(rounds) >= 3:
                    break
                await asyncio.sleep(0.01)
        stopped_after = len(rounds)
        await asyncio.sleep(0.05)
    assert stopped_after >= 3 and len(rounds) == stopped_after  # it ran on, then stopped
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("round failed; again later") == 1
    assert "round done" in messages


async def test_leaving_waits_until_a_running_round_has_stopped() -> None:
    """So the app disposes of its engine only once no round can still use it."""
    started, stopped = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    async with running(Job(slow, every_seconds=0.001, done="", failed="")):
        await asyncio.wait_for(started.wait(), timeout=5)
    assert stopped.is_set()  # already, not at some later turn of the event loop
