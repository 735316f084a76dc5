"""Calls to agencies: what is retried and what is final, Retry-After honoured, money read
exactly."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.base import AdapterConfig, Credentials
from adapters.council import CouncilAdapter
from adapters.http import Refused, Retryable, Unauthorized, classify, retry_after
from adapters.money import parse_pounds, pence_of
from adapters.registry import call_policy
from service.config import Settings
from tests.sandboxes import Agency


def _answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://a/x"))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (201, None),
        (500, Retryable),
        (502, Retryable),
        (503, Retryable),
        (408, Retryable),
        (429, Retryable),
        (401, Unauthorized),
        (400, Refused),
        (404, Refused),
        (422, Refused),
    ],
)
def test_each_status_is_an_answer_or_a_retryable_or_final_error(
    status: int, error: type[Exception] | None
) -> None:
    found = classify(_answer(status))
    assert (type(found) if found else None) is error


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert retry_after("3") == 3.0
    later = (now + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(later, now=now) == 7.0
    assert retry_after(None) is None and retry_after("soon") is None
    found = classify(_answer(429, **{"Retry-After": "2"}))
    assert isinstance(found, Retryable) and found.retry_after == 2.0


async def test_a_429_waits_as_long_as_its_retry_after_asks(
    agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    council = agencies["council"]
    config = AdapterConfig(
        council.sandbox.url, Credentials(council.sandbox.credentials), call_policy(sync_settings)
    )
    adapter = CouncilAdapter(config)
    try:
        await adapter.fetch_awards(None)  # a token first, so only the next call meets the 429
        await council.set_faults(rate_limit=1.0)
        started = time.monotonic()

        async def lift() -> None:
            await asyncio.sleep(0.3)
            await council.set_faults(rate_limit=0.0)

        lifting = asyncio.create_task(lift())
        page = await adapter.fetch_awards(None)
        await lifting
        elapsed = time.monotonic() - started
    finally:
        await adapter.aclose()
    assert len(page.items) == 5
    # Without Retry-After the quick backoff (at most 0.05 s) would retry by 0.35 s.
    assert elapsed >= 0.95


@pytest.mark.parametrize(
    ("text", "grouped", "pence"),
    [
        ("15600.00", False, 1_560_000),
        ("0.01", False, 1),
        ("-666.66", False, -66_666),
        ("25,000.00", True, 2_500_000),
        ("1,234,567.89", True, 123_456_789),
        ("8500.00", True, 850_000),
    ],
)
def test_pounds_and_pence_are_read_to_the_penny(text: str, grouped: bool, pence: int) -> None:
    assert parse_pounds(text, grouped=grouped) == pence


@pytest.mark.parametrize(
    "text", ["£15600.00k", "TBC", "£30k approx", "1.5", "12,34.00", "25,000.00", "1e3", ""]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_pounds(text)


def test_fhir_decimals_with_fractions_of_a_penny_are_refused() -> None:
    assert pence_of("28080") == 2_808_000
    assert pence_of("60.5") == 6_050
    with pytest.raises(ValueError):
        pence_of("0.001")
    with pytest.raises(ValueError):
        pence_of("28,080")


async def test_the_council_token_is_renewed_when_refused_as_expired(
    agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    council = agencies["council"]
    config = AdapterConfig(
        council.sandbox.url, Credentials(council.sandbox.credentials), call_policy(sync_settings)
    )
    adapter = CouncilAdapter(config)
    await council.set_faults(expired_token=0.5)
    try:
        for _ in range(8):
            assert len((await adapter.fetch_awards(None)).items) == 5
    finally:
        await adapter.aclose()
