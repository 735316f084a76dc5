"""Spends at full speed from concurrent clients, and what each request got back.

Every intended spend has its own Idempotency-Key and a fixed body. Its first attempt ends
in one of three ways:

- acknowledged: 201, with the spend's id;
- unanswered: the connection dropped, was refused or timed out, or the service said it
  could not tell (503 with Retry-After): the client does not know whether it happened,
  so it must retry with the same key and the same body until it gets an answer;
- anything else is an answer the service should never give here (a violation); it is
  retried too, so the accounting stays complete.

A client stops at its first unanswered request: while the service or its database is
down, sending more only piles up requests that were never sent.
"""

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.api import Partner

# Each spend: a support worker's visit, 1p to £5, within the budgets' year (bench.api).
MAX_PENCE = 500
SPEND = {"category": "personal_care", "description": "Support worker, two hours"}
OCCURRED_ON = "2026-06-01"
REQUEST_TIMEOUT_SECONDS = 10.0
RETRY_ATTEMPTS = 60
RETRY_PAUSE_SECONDS = 0.25
REPLAY_HEADER = "idempotent-replayed"


@dataclass(frozen=True)
class Intent:
    """One intended spend: its key, where it goes, and the exact body, sent every time."""

    key: str
    budget_id: str
    body: bytes
    amount: int


@dataclass(frozen=True)
class Answer:
    """A 201 for a spend: the spend's id, the body's exact bytes, and whether it replayed."""

    spend_id: str
    body: bytes
    replayed: bool


@dataclass
class SpendLog:
    """Every intent, and every answer, across all cycles of one run."""

    intents: dict[str, Intent] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)  # answered 201 at the first try
    unanswered: list[str] = field(default_factory=list)  # to retry, in the order they failed
    failures: Counter[str] = field(default_factory=Counter)  # how first tries went unanswered
    violations: list[str] = field(default_factory=list)

    def new_intent(self, rng: random.Random, budget_id: str) -> Intent:
        amount = rng.randint(1, MAX_PENCE)
        body = {
            "amount": amount,
            **SPEND,
            "occurred_on": OCCURRED_ON,
        }
        intent = Intent(uuid.uuid4().hex, budget_id, json.dumps(body).encode(), amount)
        self.intents[intent.key] = intent
        return intent


@dataclass(frozen=True)
class Budgets:
    """Where the clients spend: a few budgets, and one hot one that half the spends hit."""

    spread: Sequence[str]
    hot: str

    def pick(self, rng: random.Random) -> str:
        return self.hot if rng.random() < 0.5 else rng.choice(self.spread)


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an answer, or why there is none (and whether that is allowed)."""

    answer: Answer | None = None
    unanswered: str | None = None  # why the client cannot know what happened
    violation: str | None = None  # an answer the service must never give here
    retry_after: float = 0.0


async def attempt(http: httpx.AsyncClient, token: str, intent: Intent) -> Outcome:
    """Send the intent once."""
    try:
        response = await http.post(
            f"/v1/budgets/{intent.budget_id}/spends",
            content=intent.body,
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": intent.key,
                "Content-Type": "application/json",
            },
        )
    except httpx.TransportError as exc:
        return Outcome(unanswered=type(exc).__name__)
    if response.status_code == 201:
        spend_id = str(response.json()["id"])
        replayed = response.headers.get(REPLAY_HEADER) == "true"
        return Outcome(answer=Answer(spend_id, response.content, replayed))
    retry_after = response.headers.get("retry-after")
    if response.status_code in (409, 503) and retry_after is not None:
        # 503: the service could not finish (its database is away); 409: the same key is
        # still being processed (a transaction of a killed worker not yet rolled back).
        return Outcome(unanswered=f"HTTP {response.status_code}", retry_after=float(retry_after))
    return Outcome(
        violation=f"HTTP {response.status_code} {response.text[:300]}",
        unanswered=f"HTTP {response.status_code}",
    )


def client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False
    )


async def spend_until_stopped(
    http: httpx.AsyncClient,
    token: str,
    budgets: Budgets,
    log: SpendLog,
    *,
    clients: int,
    stop: asyncio.Event,
    acknowledged_now: asyncio.Event,
    seed: int,
    max_seconds: float,
) -> list[str]:
    """Run `clients` spenders until `stop` is set, each until its first unanswered request.

    Sets `acknowledged_now` at every 201 (a waiter clears it first). Returns the keys
    acknowledged in this run (201 at the first try).
    """
    acknowledged: list[str] = []
    deadline = time.monotonic() + max_seconds

    async def spender(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        while not stop.is_set() and time.monotonic() < deadline:
            intent = log.new_intent(rng, budgets.pick(rng))
            outcome = await attempt(http, token, intent)
            if outcome.violation is not None:
                log.violations.append(f"first try of {intent.key}: {outcome.violation}")
            if outcome.answer is not None:
                log.answers[intent.key] = outcome.answer
                log.acknowledged.append(intent.key)
                acknowledged.append(intent.key)
                acknowledged_now.set()
                continue
            log.unanswered.append(intent.key)
            log.failures[outcome.unanswered or "?"] += 1
            return

    await asyncio.gather(*(spender(number) for number in range(clients)))
    return acknowledged


@dataclass
class RetryCounts:
    """How the retried requests were finally answered."""

    replayed: int = 0
    fresh: int = 0
    attempts: int = 0


async def retry_unanswered(
    http: httpx.AsyncClient, token: str, log: SpendLog, keys: Sequence[str], *, clients: int
) -> RetryCounts:
    """Send each unanswered intent again, same key and body, until it gets its answer."""
    counts = RetryCounts()
    gate = asyncio.Semaphore(clients)

    async def retry(key: str) -> None:
        intent = log.intents[key]
        last = ""
        async with gate:
            for _ in range(RETRY_ATTEMPTS):
                counts.attempts += 1
                outcome = await attempt(http, token, intent)
                if outcome.answer is not None:
                    log.answers[key] = outcome.answer
                    if outcome.answer.replayed:
                        counts.replayed += 1
                    else:
                        counts.fresh += 1
                    return
                if outcome.violation is not None:
                    log.violations.append(f"retry of {key}: {outcome.violation}")
                last = outcome.unanswered or "?"
                await asyncio.sleep(min(outcome.retry_after, 1.0) or RETRY_PAUSE_SECONDS)
        log.violations.append(f"{key} still unanswered after {RETRY_ATTEMPTS} retries ({last})")

    await asyncio.gather(*(retry(key) for key in keys))
    return counts


async def replay_acknowledged(
    http: httpx.AsyncClient, token: str, log: SpendLog, keys: Sequence[str]
) -> int:
    """Send acknowledged spends again: each must replay its first answer byte for byte."""
    for key in keys:
        first = log.answers[key]
        outcome = await attempt(http, token, log.intents[key])
        again = outcome.answer
        if again is None:
            log.violations.append(
                f"replay of acknowledged {key}: {outcome.violation or outcome.unanswered}"
            )
        elif not again.replayed or again.body != first.body:
            log.violations.append(
                f"replay of acknowledged {key} (spend {first.spend_id}) was not the first answer:"
                f" replayed={again.replayed}, spend {again.spend_id}"
            )
    return len(keys)


async def fetch_token_when_ready(
    http: httpx.AsyncClient, partner: Partner, *, seconds: float = 30.0
) -> str:
    """A fresh access token; the token endpoint may fail while the database comes back."""
    deadline = time.monotonic() + seconds
    reason = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(partner.client_id, partner.secret),
            )
            if response.status_code == 200:
                token: str = response.json()["access_token"]
                return token
            reason = f"HTTP {response.status_code} {response.text[:200]}"
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
    raise TimeoutError(f"no access token within {seconds:.0f} s: {reason}")
