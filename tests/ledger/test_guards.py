"""The database's own guards, reached by batches the engine would never send.

The budget lock and the pooling engine keep every batch within the money there is; these
tests go round them, straight to post_batch or with a stale read, to show that the
database still refuses an overdraft (the pot CHECK) and that post_batch refuses an
account of another budget, and that nothing moves when they do.
"""

import uuid
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

import service.spends.service as spends_service
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import StreamFunds
from service.ledger.repository import (
    ForeignAccount,
    LockedBudget,
    Overdrawn,
    StreamAccounts,
    ensure_accounts,
    post_batch,
)
from tests.partners import PartnerFactory
from tests.world import PERIOD, World, allocate, created, make_world, spend_body


@dataclass(frozen=True)
class Books:
    """Every account's counters and the number of transfers: what 'nothing moved' compares."""

    counters: dict[int, tuple[int, int, int, int]]
    transfers: int


async def _books(app: FastAPI) -> Books:
    """The ledger as it stands (every account, every transfer the test can see)."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted"
                " FROM account"
            )
        )
        counters = {row.id: tuple(row)[1:] for row in rows}
        transfers = (await session.execute(text("SELECT count(*) FROM transfer"))).scalar_one()
    return Books(counters, transfers)


async def _accounts(app: FastAPI, world: World, stream_id: str) -> StreamAccounts:
    """The ids of one stream's accounts on the world's budget."""
    async with app.state.sessionmaker() as session, session.begin():
        return await ensure_accounts(
            session,
            budget_id=uuid.UUID(world.budget_id),
            stream_id=uuid.UUID(stream_id),
            currency="GBP",
        )


def _spend(accounts: StreamAccounts, amount: int, kind: TransferKind) -> TransferSpec:
    """Money out of the stream's pot into its spent account, posted or held."""
    return TransferSpec(
        id=uuid.uuid4(),
        debit_account_id=accounts.pot,
        credit_account_id=accounts.spent,
        amount=amount,
        kind=kind,
        code="spend",
    )


async def _second_budget(world: World) -> World:
    """Another person's budget, led by the same council and paid from the same care stream."""
    council = world.council
    body = {"reference": f"P-{uuid.uuid4().hex[:6]}", "name": "Alex", "date_of_birth": "1990-01-01"}
    person = await created(await council.post("/v1/people", body))
    budget_body = {"person_id": person["id"], "currency": "GBP", "deployment": "direct_payment"}
    budget = await created(await council.post("/v1/budgets", {**budget_body, **PERIOD}))
    await allocate(council, budget["id"], world.care_stream, 100_000)
    return replace(world, person_id=person["id"], budget_id=budget["id"])


async def _post(app: FastAPI, world: World, *transfers: TransferSpec) -> None:
    """post_batch on the world's budget in a transaction of its own, committed if it returns."""
    async with app.state.sessionmaker() as session, session.begin():
        await post_batch(
            session,
            budget_id=uuid.UUID(world.budget_id),
            transfers=transfers,
            reference_id=None,
        )


class TestThePotCheck:
    @pytest.mark.parametrize("kind", [TransferKind.POSTED, TransferKind.PENDING])
    async def test_a_batch_larger_than_the_pot_is_refused_and_nothing_moves(
        self, partners: PartnerFactory, kind: TransferKind
    ) -> None:
        world = await make_world(partners, care_amount=100_000)
        care = await _accounts(partners.app, world, world.care_stream)
        before = await _books(partners.app)
        with pytest.raises(Overdrawn):
            await _post(partners.app, world, _spend(care, 100_001, kind))
        assert await _books(partners.app) == before

    async def test_a_linked_batch_moves_all_or_nothing(self, partners: PartnerFactory) -> None:
        world = await make_world(partners, care_amount=100_000, dfg_amount=200_000)
        care = await _accounts(partners.app, world, world.care_stream)
        dfg = await _accounts(partners.app, world, world.dfg_stream)
        before = await _books(partners.app)
        fits = _spend(care, 50_000, TransferKind.POSTED)
        with pytest.raises(Overdrawn):
            await _post(partners.app, world, fits, _spend(dfg, 200_001, TransferKind.POSTED))
        assert await _books(partners.app) == before  # the transfer that fitted did not land

    async def test_the_whole_pot_can_be_spent_to_the_last_penny(
        self, partners: PartnerFactory
    ) -> None:
        world = await make_world(partners, care_amount=100_000)
        care = await _accounts(partners.app, world, world.care_stream)
        before = await _books(partners.app)
        await _post(partners.app, world, _spend(care, 100_000, TransferKind.POSTED))
        after = await _books(partners.app)
        assert after.transfers == before.transfers + 1
        assert after.counters[care.pot][1] == before.counters[care.pot][1] + 100_000
        with pytest.raises(Overdrawn):
            await _post(partners.app, world, _spend(care, 1, TransferKind.POSTED))
        assert await _books(partners.app) == after

    async def test_a_stale_split_reaching_the_database_is_a_409_and_nothing_moves(
        self, partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The engine splits over balances it read; if that read were stale, the CHECK answers."""
        world = await make_world(partners, care_amount=100_000)
        read_under_lock = spends_service._funds

        def stale(budget: LockedBudget) -> list[StreamFunds]:
            return [replace(f, available=f.available + 50_000) for f in read_under_lock(budget)]

        monkeypatch.setattr(spends_service, "_funds", stale)
        before = await _books(partners.app)
        response = await world.council.post(world.budget_path("/spends"), spend_body(120_000))
        assert response.status_code == 409, response.text
        problem: dict[str, Any] = response.json()
        assert problem["type"].endswith("/overdrawn")
        assert "retry" in problem["detail"]
        assert await _books(partners.app) == before
        spends = (await world.council.get(world.budget_path("/spends"))).json()["items"]
        assert spends == []


class TestForeignAccounts:
    async def test_a_batch_naming_another_budgets_accounts_is_refused(
        self, partners: PartnerFactory
    ) -> None:
        mine = await make_world(partners)
        theirs = await _second_budget(mine)
        their_care = await _accounts(partners.app, theirs, theirs.care_stream)
        before = await _books(partners.app)
        with pytest.raises(ForeignAccount):
            await _post(partners.app, mine, _spend(their_care, 1_000, TransferKind.POSTED))
        assert await _books(partners.app) == before

    async def test_one_foreign_account_among_our_own_refuses_the_whole_batch(
        self, partners: PartnerFactory
    ) -> None:
        mine = await make_world(partners)
        theirs = await _second_budget(mine)
        my_care = await _accounts(partners.app, mine, mine.care_stream)
        their_care = await _accounts(partners.app, theirs, theirs.care_stream)
        before = await _books(partners.app)
        into_their_spent = replace(
            _spend(my_care, 1_000, TransferKind.POSTED), credit_account_id=their_care.spent
        )
        with pytest.raises(ForeignAccount):
            await _post(partners.app, mine, into_their_spent)
        assert await _books(partners.app) == before  # our own pot's update was undone too
