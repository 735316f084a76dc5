"""The webhook side: a partner with an endpoint at the receiver, and spends that each write a
message to the outbox (spend.posted, in the spend's own transaction), through the API.

The receiver (bench/receiver.py) is a real HTTP server in the bench's process: it verifies
every signature with the `standardwebhooks` package and answers 204, as a partner would.
"""

import random
from collections import defaultdict
from typing import Any

from bench.api import SCOPES, Api, bench_references, in_parallel, make_budgets
from bench.history import Check
from bench.progress import say
from bench.receiver import Receiver

WEBHOOK_SCOPES = f"{SCOPES} webhooks:read webhooks:write"
# The receiver listens on loopback, which webhooks may not reach unless allowed.
LOOPBACK_ALLOWED = {"ONEBUDGET_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]'}
MAX_PENCE = 500  # a spend: 1 to 500 pence, as requests.lua spends
# Enough that no spend takes a budget below a tenth (no budget.low): one message a spend.
HEADROOM = 20


def spend_body(rng: random.Random) -> dict[str, Any]:
    """A spend of personal care, as bench/requests.lua sends."""
    return {
        "amount": rng.randint(1, MAX_PENCE),
        "category": "personal_care",
        "description": "Support worker, two hours",
        "occurred_on": "2026-06-01",
    }


async def make_events(
    api: Api, receiver: Receiver, *, budgets: int, events: int, concurrency: int
) -> int:
    """Funded budgets, the receiver's endpoint, then `events` spends spread over the budgets
    in turn; the spends answered 201 (BenchError at the first other answer)."""
    most = -(-events // budgets) * MAX_PENCE
    ids = await make_budgets(api, bench_references(budgets), most * HEADROOM, concurrency)
    endpoint = await api.create("/v1/webhook-endpoints", {"url": receiver.url})
    receiver.secret = endpoint["secret"]
    say(f"setup: webhook endpoint {endpoint['id']} at the receiver, {receiver.url}")
    rng = random.Random(0)

    async def spend(index: int) -> str:
        made = await api.create(f"/v1/budgets/{ids[index % budgets]}/spends", spend_body(rng))
        return str(made["id"])

    return len(await in_parallel(events, concurrency, spend, "spends"))


MESSAGES = """
SELECT budget_id, event_id, delivered_at IS NOT NULL AS delivered
FROM webhook_message ORDER BY seq
"""
ATTEMPTS = "SELECT count(*) AS attempts FROM webhook_attempt"


async def delivery_checks(probe: Any, receiver: Receiver, spends: int) -> list[Check]:
    """Every message delivered, once, in order per budget, each signature good."""
    rows = await probe.fetch(MESSAGES)
    attempts = await probe.fetchval(ATTEMPTS)
    in_order: dict[str, list[str]] = defaultdict(list)  # the outbox's order, by budget
    for row in rows:
        in_order[str(row["budget_id"])].append(str(row["event_id"]))
    messages = len(rows)
    undelivered = sum(1 for row in rows if not row["delivered"])
    twice = receiver.delivered_twice()
    disordered = [b for b, ids in in_order.items() if receiver.budget_order(b) != ids]
    retries = attempts - messages
    return [
        Check(
            f"{messages:,} messages in the outbox, one a spend ({spends:,}), all delivered",
            messages == spends and undelivered == 0,
            f"BROKEN: {undelivered:,} undelivered",
        ),
        Check(
            f"receiver took {len(receiver.accepted):,} (signatures all good:"
            f" {receiver.bad_signatures} bad); {retries:,} retries",
            len(receiver.accepted) == messages and receiver.bad_signatures == 0 and retries == 0,
        ),
        Check(
            "no message delivered twice (the contract allows it: at least once)",
            not twice,
            f"{len(twice):,} delivered twice",
        ),
        Check(
            f"each of {len(in_order):,} budgets' messages arrived in the outbox's order",
            not disordered,
            f"BROKEN on {len(disordered):,} budgets",
        ),
    ]
