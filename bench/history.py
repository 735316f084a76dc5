"""A long ledger history for the balance reads, and the checks that the ledger still adds up.

The history is written with the ledger's own statement (POST_BATCH: the transfers and the
account counters in one statement), many thousands of transfers at a time, so a million
takes seconds rather than the hours it would take through the API.
"""

import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.progress import say
from service.domain.ledger import TransferKind, TransferSpec
from service.ledger.repository import POST_BATCH, batch_params
from service.spends.repository import SPEND_CODE

CHUNK = 50_000
MAX_PENCE = 500  # as requests.lua spends
ACCOUNTS = "SELECT kind, id FROM account WHERE budget_id = :budget AND kind IN ('pot', 'spent')"


def history_engine(database_url: str) -> AsyncEngine:
    """An asyncpg engine on the bench database, for the seeding and the checks."""
    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    return create_async_engine(url, pool_size=1)


async def seed_history(engine: AsyncEngine, budget_id: str, count: int) -> None:
    """Post `count` spend transfers (pot -> spent) on the budget, committing each chunk."""
    async with engine.connect() as conn:
        rows = await conn.execute(text(ACCOUNTS), {"budget": uuid.UUID(budget_id)})
        accounts: dict[str, int] = dict(rows.tuples().all())
    rng = random.Random(count)
    posted, last_report = 0, time.perf_counter()
    while posted < count:
        size = min(CHUNK, count - posted)
        transfers = [
            TransferSpec(
                id=uuid.uuid4(),
                debit_account_id=accounts["pot"],
                credit_account_id=accounts["spent"],
                amount=rng.randint(1, MAX_PENCE),
                kind=TransferKind.POSTED,
                code=SPEND_CODE,
            )
            for _ in range(size)
        ]
        params = batch_params(
            budget_id=uuid.UUID(budget_id), transfers=transfers, reference_id=None
        )
        async with engine.connect() as conn:
            # POST_BATCH is a prepared statement (service.sql), run on the driver outside
            # any transaction: one statement, so each chunk commits whole by itself.
            driver: Any = (await conn.get_raw_connection()).driver_connection
            await driver.fetch(POST_BATCH.sql, *POST_BATCH.args(params))
        posted += size
        if posted == count or time.perf_counter() - last_report >= 5:
            last_report = time.perf_counter()
            say(f"history: {posted:,}/{count:,} transfers on one budget")
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE transfer"))  # as autovacuum soon would


# Every account's posted counters against its transfers, folded independently of the
# service's code: a posted transfer, or the posting of a pending one, moves the posted
# counters of both its accounts by its amount.
COUNTERS_OFF = """
WITH moved AS (
    SELECT account_id, sum(debit) AS debit, sum(credit) AS credit FROM (
        SELECT debit_account_id AS account_id, amount AS debit, 0 AS credit FROM transfer
        WHERE kind IN ('posted', 'post_pending')
        UNION ALL
        SELECT credit_account_id, 0, amount FROM transfer
        WHERE kind IN ('posted', 'post_pending')
    ) AS sides GROUP BY account_id
)
SELECT count(*) FROM account AS a LEFT JOIN moved AS m ON m.account_id = a.id
WHERE a.debits_posted <> coalesce(m.debit, 0) OR a.credits_posted <> coalesce(m.credit, 0)
"""
TOTALS = """
SELECT sum(debits_posted) AS dp, sum(credits_posted) AS cp, sum(debits_pending) AS dq,
       sum(credits_pending) AS cq,
       count(*) FILTER (WHERE kind = 'pot'
                        AND credits_posted - debits_posted - debits_pending < 0) AS overdrawn,
       (SELECT count(*) FROM transfer) AS transfers, (SELECT count(*) FROM spend) AS spends
FROM account
"""


@dataclass(frozen=True)
class Check:
    """One thing that must hold after the run, and whether it did."""

    claim: str
    held: bool
    broken: str = "BROKEN"

    def __str__(self) -> str:
        return f"{self.claim}: {'ok' if self.held else self.broken}"


async def check_ledger(engine: AsyncEngine, answered: int, in_flight: int) -> list[Check]:
    """The ledger still adds up, and holds one spend per 201 answer."""
    async with engine.connect() as conn:
        row: Any = (await conn.execute(text(TOTALS))).one()
        off = (await conn.execute(text(COUNTERS_OFF))).scalar_one()
    # wrk stops counting at its deadline: a spend in flight then may still commit.
    extra = row.spends - answered
    return [
        Check(
            f"debits = credits (posted {row.dp:,}, pending {row.dq:,}), no pot below zero",
            row.dp == row.cp and row.dq == row.cq and row.overdrawn == 0,
        ),
        Check(
            f"every account's posted counters = its {row.transfers:,} transfers folded",
            off == 0,
            f"BROKEN on {off} accounts",
        ),
        Check(
            f"spend rows {row.spends:,} = 201 answers {answered:,}"
            + (f" + {extra} in flight when wrk stopped (at most {in_flight})" if in_flight else ""),
            0 <= extra <= in_flight,
            "MISMATCH",
        ),
    ]
