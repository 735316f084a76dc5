"""The council's side of the benchmark: onboarded with the CLI, then the real API.

The council is registered as an operator does it (`onebudget agencies add`, `onebudget
clients add`), gets real OAuth tokens from /oauth/token, and opens its budgets through
the HTTP API, like any partner system.
"""

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.errors import BenchError
from bench.progress import say
from bench.server import onebudget_command, production_environment

STARTS_ON, ENDS_ON = date(2026, 4, 1), date(2027, 3, 31)  # requests.lua spends on 2026-06-01
T = TypeVar("T")
SCOPES = "streams:write people:write budgets:read budgets:write allocations:write spends:write"


@dataclass(frozen=True)
class Partner:
    """A partner agency and its OAuth client."""

    client_id: str
    secret: str
    agency_id: str


def run_operator(database_url: str, data_dir: Path, *args: str) -> dict[str, Any]:
    """Run one `onebudget` operator command; its JSON answer, or BenchError."""
    done = subprocess.run(
        [onebudget_command(), *args],
        env=production_environment(database_url, data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(f"`onebudget {' '.join(args[:2])}` failed:\n{done.stderr.strip()}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


async def register_partner(
    database_url: str, data_dir: Path, *, name: str = "Bench Council", scopes: str = SCOPES
) -> Partner:
    """A council and its client, registered with the operator's commands."""
    agency = await asyncio.to_thread(
        run_operator, database_url, data_dir, "agencies", "add", "--name", name, "--kind", "council"
    )
    client = await asyncio.to_thread(
        run_operator,
        database_url,
        data_dir,
        "clients",
        "add",
        "--agency",
        agency["id"],
        "--name",
        "bench",
        "--scope",
        scopes,
    )
    return Partner(client["client_id"], client["client_secret"], agency["id"])


async def fetch_token(http: httpx.AsyncClient, partner: Partner) -> str:
    """A real access token from POST /oauth/token (client credentials, basic auth)."""
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.secret),
    )
    if response.status_code != 200:
        raise BenchError(f"/oauth/token answered {response.status_code}: {response.text}")
    token: str = response.json()["access_token"]
    return token


class Api:
    """The council's system calling the service with its bearer token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.auth = f"Bearer {token}"

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with a fresh Idempotency-Key; the JSON of the 201, or BenchError."""
        response = await self.http.post(
            path,
            json=body,
            headers={"Authorization": self.auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code != 201:
            raise BenchError(f"POST {path} answered {response.status_code}: {response.text}")
        created: dict[str, Any] = response.json()
        return created


def bench_references(count: int) -> list[str]:
    """References for `count` people the bench makes up."""
    return [f"BENCH-{number:06d}" for number in range(count)]


async def make_budget(api: Api, stream_id: str, reference: str, amount: int) -> str:
    """A person, their budget for the year, and one confirmed allocation; the budget id."""
    person = await api.create(
        "/v1/people",
        {"reference": reference, "name": f"Person {reference}", "date_of_birth": "1980-05-01"},
    )
    budget = await api.create(
        "/v1/budgets",
        {
            "person_id": person["id"],
            "currency": "GBP",
            "deployment": "direct_payment",
            "starts_on": STARTS_ON.isoformat(),
            "ends_on": ENDS_ON.isoformat(),
        },
    )
    await api.create(
        f"/v1/budgets/{budget['id']}/allocations",
        {"stream_id": stream_id, "amount": amount, "status": "confirmed"},
    )
    budget_id: str = budget["id"]
    return budget_id


async def make_budgets(
    api: Api, references: Sequence[str], amount: int, concurrency: int
) -> list[str]:
    """One flexible stream and a budget for each person named, each funded by it with
    `amount`, `concurrency` at a time; the budget ids."""
    stream = await api.create(
        "/v1/streams",
        {"name": "Adult social care", "kind": "social_care", "unspent": "carry_forward"},
    )

    async def one(index: int) -> str:
        return await make_budget(api, stream["id"], references[index], amount)

    return await in_parallel(len(references), concurrency, one, "budgets")


async def in_parallel(
    count: int, concurrency: int, work: Callable[[int], Awaitable[T]], what: str
) -> list[T]:
    """work(0), ..., work(count - 1), `concurrency` at a time; their results in order.

    Says "setup: DONE/COUNT WHAT" every 5 s and at the end."""
    results: dict[int, T] = {}
    last_report = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        nonlocal last_report
        async with gate:
            results[index] = await work(index)
        now = time.perf_counter()
        if len(results) == count or now - last_report >= 5.0:
            last_report = now
            say(f"setup: {len(results):,}/{count:,} {what}")

    async with asyncio.TaskGroup() as group:
        for index in range(count):
            group.create_task(one(index))
    return [results[index] for index in range(count)]
