"""The spend path without HTTP: how much of a spend's cost is the service's own code and SQL.

    python -m bench.direct URL --client-id ID --budgets-file FILE [--connections 16]
                                [--seconds 15] [--warmup 2] [--started FILE]

`python -m bench` runs this as a child process during its "spread" case, on the same database
and budgets, so the CPU it and PostgreSQL's backends use per spend can be set beside the
HTTP service's. Each of `--connections` tasks loops: a fresh Idempotency-Key, a random budget
of the file's, 1 to 500 pence of personal care, through exactly what the endpoint runs after
its HTTP layer: Idempotency.answer_kept(201, SpendOut, ...) around record_spend, on a session
of the app's own kind, committed as request_session commits. No uvicorn, middleware,
routing, validation or token check: the difference to the HTTP service is their cost.

It prints one line, `bench-direct {json}`: spends counted in the timed window, its
seconds, the p50 and p99 of a spend's time, and every spend it committed (warm-up and the
last ones, finished after the window, included). When `--started` is given, that file is
written as the timed window starts (the parent's CPU meter waits for it). Any spend that
fails stops the run with its error: every budget is funded for the whole run.
"""

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg

from service.auth.caller import Caller
from service.database import driver_dsn, make_engine, make_sessionmaker
from service.domain.vocabulary import Category
from service.idempotency.guard import Idempotency
from service.idempotency.store import IdempotentRequest, Keeper, fingerprint
from service.spends.schemas import SpendOut
from service.spends.service import record_spend

RESULT = "bench-direct"
SPENT_ON = date(2026, 6, 1)  # inside every bench budget's period


async def caller_of(url: str, client_id: str) -> Caller:
    """The registered client as its verified token would make it."""
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT id, agency_id, scope FROM oauth_client WHERE client_id = $1", client_id
        )
    finally:
        await connection.close()
    if row is None:
        raise SystemExit(f"bench.direct: no client {client_id!r} in the database")
    return Caller(row["id"], client_id, row["agency_id"], frozenset(row["scope"].split()))


async def spend_without_http(
    url: str,
    caller: Caller,
    budgets: list[uuid.UUID],
    *,
    connections: int,
    seconds: float,
    warmup: float,
    started: Path | None = None,
) -> dict[str, float]:
    """Spend for `warmup` + `seconds` on `connections` tasks; what the timed window counted."""
    engine = make_engine(url, pool_size=connections)
    sessionmaker = make_sessionmaker(engine)
    timed: list[float] = []
    committed = 0
    window = {"open": False, "stop": False}

    async def one_spend() -> None:
        amount = random.randint(1, 500)
        budget_id = random.choice(budgets)
        body = json.dumps({"amount": amount, "category": "personal_care"})
        operation = f"POST /v1/budgets/{budget_id}/spends"
        async with sessionmaker() as session:
            request = IdempotentRequest(
                session, caller.client_pk, uuid.uuid4().hex, fingerprint(operation, body)
            )

            async def work(new_id: uuid.UUID, keeper: Keeper) -> None:
                await record_spend(
                    session,
                    caller,
                    spend_id=new_id,
                    budget_id=budget_id,
                    amount=amount,
                    category=Category.PERSONAL_CARE,
                    description="bench",
                    occurred_on=SPENT_ON,
                    payee=None,
                    split=None,
                    keeper=keeper,
                )

            answer = await Idempotency(request).answer_kept(201, SpendOut, work)
            await session.commit()
        if answer.status_code != 201:
            raise RuntimeError(f"a spend answered {answer.status_code}: {answer.body!r}")

    async def spender() -> None:
        nonlocal committed
        while not window["stop"]:
            began = time.perf_counter()
            await one_spend()
            committed += 1
            if window["open"]:
                timed.append(time.perf_counter() - began)

    tasks = [asyncio.create_task(spender()) for _ in range(connections)]
    try:
        await asyncio.sleep(warmup)
        window["open"] = True
        if started is not None:
            started.write_text("timed\n")
        began = time.perf_counter()
        await asyncio.sleep(seconds)
        window["open"] = False
        elapsed = time.perf_counter() - began
        window["stop"] = True
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await engine.dispose()
    ordered = sorted(timed)

    def percentile(share: float) -> float:
        return ordered[min(int(len(ordered) * share), len(ordered) - 1)] * 1000 if ordered else 0

    return {
        "spends": len(timed),
        "seconds": elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "committed": committed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.direct",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="the bench database (postgresql://...)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--budgets-file", type=Path, required=True, help="a budget id a line")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--started", type=Path, help="written when the timed window starts")
    args = parser.parse_args(argv)
    budgets = [uuid.UUID(line) for line in args.budgets_file.read_text().split()]

    async def go() -> dict[str, float]:
        caller = await caller_of(args.url, args.client_id)
        return await spend_without_http(
            args.url,
            caller,
            budgets,
            connections=args.connections,
            seconds=args.seconds,
            warmup=args.warmup,
            started=args.started,
        )

    print(f"{RESULT} {json.dumps(asyncio.run(go()))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
