"""A hypothesis state machine drives the real API over random money moves on one budget.

After every step the ledger's invariants are checked in the database and against a model:
debits equal credits; no pot below zero; every spent penny sits on a line of a stream
whose rules allowed the category; per stream and in total, allocated = available +
pending + spent + returned; and the API's totals match what the model expects.

Period close (pot -> returned) has no endpoint yet, so it is posted through the ledger
repository itself. So are two batches the pure rules (service/domain/ledger.py) accept but
the database must refuse: one that takes a pot below zero (the pot CHECK: Overdrawn) and
one that resolves a pending transfer a second time (UNIQUE pending_id:
PendingAlreadyResolved).

One app serves every example; each example runs in its own transaction on the shared test
database, rolled back when it ends (see tests/conftest.py), and the invariants read the
ledger through that same transaction.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.database import make_engine
from service.domain.ledger import TransferKind, TransferSpec
from service.ledger.repository import Overdrawn, PendingAlreadyResolved, post_batch
from service.main import create_app
from tests.conftest import joined_sessionmaker, rolled_back
from tests.partners import PartnerFactory
from tests.world import World, make_world, spend_body

CATEGORIES = ["personal_care", "housing_adaptation", "respite", "equipment"]


class LedgerMachine(RuleBasedStateMachine):
    """Random allocations, spends, commitments, approvals and reversals on one budget."""

    # Shared by every example: the loop they run on, the started app and its engine.
    loop: asyncio.AbstractEventLoop
    app: FastAPI
    engine: AsyncEngine

    def __init__(self) -> None:
        super().__init__()
        self.posted: dict[str, int] = {}  # spend id -> amount, posted and not reversed
        self.awaiting: dict[str, int] = {}  # spend id -> amount, awaiting approval
        self.held: dict[str, int] = {}  # commitment id -> amount held
        self.resolved: list[str] = []  # commitment ids posted or voided
        self.allocated = 0
        self.spent = 0
        self.returned = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def start(self) -> None:
        self.run(self._start())

    async def _start(self) -> None:
        self.stack = contextlib.AsyncExitStack()
        self.conn = await self.stack.enter_async_context(rolled_back(self.engine))
        self.app.state.sessionmaker = joined_sessionmaker(self.conn)
        transport = httpx.ASGITransport(app=self.app)
        self.http = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://t")
        )
        self.world: World = await make_world(
            PartnerFactory(app=self.app, client=self.http),
            care_amount=50_000,
            dfg_amount=80_000,
            dfg_threshold=30_000,
        )
        self.allocated = 130_000

    def teardown(self) -> None:
        if hasattr(self, "stack"):
            self.run(self.stack.aclose())

    @rule(amount=st.integers(1, 40_000))
    def allocate(self, amount: int) -> None:
        body = {"stream_id": self.world.care_stream, "amount": amount, "status": "confirmed"}
        response = self.run(self.world.council.post(self.world.budget_path("/allocations"), body))
        assert response.status_code == 201, response.text
        self.allocated += amount

    @rule(amount=st.integers(1, 60_000), category=st.sampled_from(CATEGORIES))
    def spend(self, amount: int, category: str) -> None:
        response = self.run(
            self.world.council.post(self.world.budget_path("/spends"), spend_body(amount, category))
        )
        assert response.status_code in (201, 422), response.text
        if response.status_code == 201:
            spend = response.json()
            if spend["status"] == "posted":
                self.posted[spend["id"]] = amount
                self.spent += amount
            else:
                self.awaiting[spend["id"]] = amount
        else:
            assert response.json()["type"].endswith("/insufficient-funds")

    @precondition(lambda self: self.awaiting)
    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        spend_id = data.draw(st.sampled_from(sorted(self.awaiting)))
        verb = "approve" if approve else "reject"
        response = self.run(self.world.housing.post(f"/v1/spends/{spend_id}/{verb}"))
        assert response.status_code == 200, response.text
        amount = self.awaiting.pop(spend_id)
        if approve:
            self.posted[spend_id] = amount
            self.spent += amount

    @precondition(lambda self: self.posted)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        spend_id = data.draw(st.sampled_from(sorted(self.posted)))
        response = self.run(self.world.council.post(f"/v1/spends/{spend_id}/reverse"))
        assert response.status_code == 201, response.text
        self.spent -= self.posted.pop(spend_id)

    @rule(amount=st.integers(1, 30_000))
    def commit(self, amount: int) -> None:
        body = {
            "amount": amount,
            "category": "respite",
            "description": "Booked",
            "expires_at": "2030-01-01T00:00:00Z",
        }
        response = self.run(self.world.council.post(self.world.budget_path("/commitments"), body))
        assert response.status_code in (201, 422), response.text
        if response.status_code == 201:
            self.held[response.json()["id"]] = amount

    @precondition(lambda self: self.held)
    @rule(data=st.data(), share=st.integers(0, 100))
    def settle(self, data: st.DataObject, share: int) -> None:
        commitment_id = data.draw(st.sampled_from(sorted(self.held)))
        held = self.held.pop(commitment_id)
        self.resolved.append(commitment_id)
        paid = held * share // 100
        path = f"/v1/commitments/{commitment_id}/" + ("post" if paid else "void")
        response = self.run(self.world.council.post(path, {"amount": paid} if paid else None))
        assert response.status_code == 200, response.text
        self.spent += paid

    @rule(share=st.integers(0, 100))
    def close(self, share: int) -> None:
        # Period close: the DFG (returned if unspent) hands back a share of what is left.
        pot, returned, available = self.run(self._accounts(self.world.dfg_stream))
        amount = available * share // 100
        if amount:
            move = self._transfer(pot, returned, amount, TransferKind.POSTED, "period_close")
            self.run(self._post(move))
            self.returned += amount

    @rule(stream=st.sampled_from(["care_stream", "dfg_stream"]))
    def overdraw(self, stream: str) -> None:
        # One penny more than the pot holds: the pure rules let it through, the database not.
        pot, returned, available = self.run(self._accounts(getattr(self.world, stream)))
        move = self._transfer(pot, returned, available + 1, TransferKind.POSTED, "overdraw")
        with pytest.raises(Overdrawn):
            self.run(self._post(move))

    @precondition(lambda self: self.resolved)
    @rule(data=st.data(), void=st.booleans())
    def resolve_again(self, data: st.DataObject, void: bool) -> None:
        # A pending transfer already posted or voided cannot be resolved a second time.
        pending = self.run(self._pending(data.draw(st.sampled_from(self.resolved))))
        kind = TransferKind.VOID_PENDING if void else TransferKind.POST_PENDING
        again = self._transfer(
            pending.debit_account_id, pending.credit_account_id, pending.amount, kind, "again"
        )
        again = replace(again, pending_id=pending.id, pending_amount=pending.amount)
        with pytest.raises(PendingAlreadyResolved):
            self.run(self._post(again))

    def _transfer(
        self, debit: int, credit: int, amount: int, kind: TransferKind, code: str
    ) -> TransferSpec:
        """One transfer of the given kind between two accounts."""
        return TransferSpec(uuid.uuid4(), debit, credit, amount, kind, code)

    async def _post(self, transfer: TransferSpec) -> None:
        """Post one transfer through the ledger repository, as a request would, and commit."""
        async with joined_sessionmaker(self.conn)() as session:
            try:
                await post_batch(
                    session,
                    budget_id=uuid.UUID(self.world.budget_id),
                    transfers=[transfer],
                    reference_id=None,
                )
            except (Overdrawn, PendingAlreadyResolved):
                await session.rollback()
                raise
            await session.commit()

    async def _accounts(self, stream_id: str) -> tuple[int, int, int]:
        """The stream's pot and returned account ids, and the pot's available money."""
        rows = await self.conn.execute(
            text(
                "SELECT kind, id, credits_posted - debits_posted - debits_pending AS free"
                " FROM account WHERE budget_id = :budget AND stream_id = :stream"
            ),
            {"budget": self.world.budget_id, "stream": stream_id},
        )
        found = {row.kind: row for row in rows}
        return found["pot"].id, found["returned"].id, found["pot"].free

    async def _pending(self, reference_id: str) -> Any:
        """The pending transfer a commitment held, found by the commitment's id."""
        return (
            await self.conn.execute(
                text(
                    "SELECT id, debit_account_id, credit_account_id, amount FROM transfer"
                    " WHERE reference_id = :reference AND kind = 'pending' ORDER BY id LIMIT 1"
                ),
                {"reference": reference_id},
            )
        ).one()

    @invariant()
    def books_balance(self) -> None:
        if not hasattr(self, "conn"):
            return
        row = self.run(
            self.conn.execute(
                text(
                    "SELECT sum(debits_posted) dp, sum(credits_posted) cp, sum(debits_pending) dq,"
                    " sum(credits_pending) cq, min(credits_posted - debits_posted - debits_pending)"
                    " FILTER (WHERE kind = 'pot') AS lowest_pot FROM account"
                )
            )
        ).one()
        assert row.dp == row.cp and row.dq == row.cq
        assert row.lowest_pot >= 0
        wrong = self.run(
            self.conn.scalar(
                text(
                    "SELECT count(*) FROM spend_line l JOIN spend s ON s.id = l.spend_id"
                    " JOIN funding_stream f ON f.id = l.stream_id"
                    " WHERE s.kind <> 'reversal' AND f.categories IS NOT NULL"
                    " AND NOT s.category = ANY(f.categories)"
                )
            )
        )
        assert wrong == 0
        unsplit = self.run(
            self.conn.scalar(
                text(
                    "SELECT count(*) FROM spend s WHERE s.amount <>"
                    " (SELECT sum(amount) FROM spend_line l WHERE l.spend_id = s.id)"
                )
            )
        )
        assert unsplit == 0
        unbalanced = self.run(
            self.conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM account GROUP BY budget_id, stream_id"
                    " HAVING sum(CASE kind WHEN 'contribution' THEN debits_posted - credits_posted"
                    " ELSE 0 END) <> sum(CASE kind"
                    " WHEN 'pot' THEN credits_posted - debits_posted"
                    " WHEN 'spent' THEN credits_posted - debits_posted"
                    " WHEN 'returned' THEN credits_posted - debits_posted ELSE 0 END)) AS off"
                )
            )
        )
        assert unbalanced == 0  # allocated = available + pending + spent + returned, per stream

    @invariant()
    def api_totals_match_the_model(self) -> None:
        if not hasattr(self, "world"):
            return
        totals = self.run(self.world.council.get(self.world.budget_path())).json()["totals"]
        assert totals["allocated"] == self.allocated
        assert totals["spent"] == self.spent
        assert totals["returned"] == self.returned
        assert totals["pending"] == sum(self.awaiting.values()) + sum(self.held.values())
        parts = totals["available"] + totals["pending"] + totals["spent"] + totals["returned"]
        assert totals["allocated"] == parts


async def _enter_lifespan(app: FastAPI) -> LifespanManager:
    """Start the app (the manager must be made inside the loop it runs on)."""
    lifespan = LifespanManager(app)
    await lifespan.__aenter__()
    return lifespan


@contextlib.contextmanager
def _started(shared_url: str, config: Settings) -> Iterator[None]:
    """Give the machine a loop, a started app and an engine on the shared test database."""
    loop = asyncio.new_event_loop()
    app = create_app(config, database_url=shared_url, migrate=False)
    lifespan = loop.run_until_complete(_enter_lifespan(app))
    engine = make_engine(shared_url, pool_size=1)
    LedgerMachine.loop, LedgerMachine.app, LedgerMachine.engine = loop, app, engine
    try:
        yield
    finally:
        loop.run_until_complete(engine.dispose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def test_ledger_state_machine(shared_url: str, settings: Settings) -> None:
    run = LedgerMachine.TestCase
    run.settings = hypothesis_settings(
        max_examples=max(12, hypothesis_settings.default.max_examples // 20),  # thorough: 250
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    with _started(shared_url, settings):
        run().runTest()
