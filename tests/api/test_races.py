"""Requests racing for one pot or one hold: exactly one wins, and the money moves once.

Each race runs a few rounds (requests sent at once over separate connections; which one
wins varies). The budget lock decides most races; the database's guards (the pot CHECK,
the unique pending_id of a resolution) decide any the lock would miss.
"""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.partners import PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body

# Requests in flight at once need separate connections and transactions.
pytestmark = pytest.mark.own_database

ROUNDS = 4


def _slug(response: httpx.Response) -> str:
    """The last part of a problem's type, e.g. "wrong-state"."""
    kind: str = response.json()["type"]
    return kind.rsplit("/", 1)[-1]


def _one_winner(
    first: httpx.Response, second: httpx.Response, *, won: int, lost: dict[int, set[str]]
) -> int:
    """Which of the two won (0 or 1), after checking the other lost with an allowed problem."""
    statuses = [first.status_code, second.status_code]
    assert statuses.count(won) == 1, [first.text, second.text]
    winner = statuses.index(won)
    loser = (second, first)[winner]
    assert loser.status_code in lost, loser.text
    assert _slug(loser) in lost[loser.status_code], loser.text
    return winner


async def _resolutions(app: FastAPI, spend_id: str) -> int:
    """How many posts and voids resolved the held lines of one spend or commitment."""
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM transfer t JOIN spend_line l ON t.pending_id = l.transfer_id"
                " WHERE l.spend_id = CAST(:spend_id AS uuid)"
            ),
            {"spend_id": spend_id},
        )
    return int(count or 0)


async def _totals(world: World) -> dict[str, Any]:
    """The budget's totals, checked to add up and to leave no pot below zero."""
    budget = (await world.council.get(world.budget_path())).json()
    totals: dict[str, Any] = budget["totals"]
    assert totals["allocated"] == (
        totals["available"] + totals["pending"] + totals["spent"] + totals["returned"]
    )
    assert all(stream["available"] >= 0 for stream in budget["streams"])
    return totals


async def _balanced(app: FastAPI) -> bool:
    """Every debit has its credit, posted and pending."""
    async with app.state.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT sum(debits_posted) = sum(credits_posted),"
                    " sum(debits_pending) = sum(credits_pending) FROM account"
                )
            )
        ).one()
    return bool(row[0] and row[1])


async def test_two_spends_that_fit_alone_but_not_together(partners: PartnerFactory) -> None:
    world = await make_world(partners, care_amount=100_000)
    path = world.budget_path("/spends")
    for _ in range(ROUNDS):
        first, second = await asyncio.gather(
            world.council.post(path, spend_body(60_000)),
            world.council.post(path, spend_body(60_000)),
        )
        # Under the lock the second sees 40,000 left (422); the CHECK answers 409 if not.
        lost = {422: {"insufficient-funds"}, 409: {"overdrawn"}}
        winner = _one_winner(first, second, won=201, lost=lost)
        totals = await _totals(world)
        assert (totals["spent"], totals["pending"]) == (60_000, 0)
        spend_id = (first, second)[winner].json()["id"]
        await created(await world.council.post(f"/v1/spends/{spend_id}/reverse"))
    assert (await _totals(world))["spent"] == 0
    assert await _balanced(partners.app)


async def test_approve_and_reject_of_one_spend_at_once(partners: PartnerFactory) -> None:
    world = await make_world(partners, dfg_threshold=100_000)
    paid = 0
    for _ in range(ROUNDS):
        body = spend_body(150_000, "housing_adaptation")
        spend = await created(await world.council.post(world.budget_path("/spends"), body))
        assert spend["status"] == "pending_approval"
        path = f"/v1/spends/{spend['id']}"
        approve, reject = await asyncio.gather(
            world.housing.post(f"{path}/approve"), world.housing.post(f"{path}/reject")
        )
        lost = {409: {"wrong-state", "already-resolved"}}
        approved = _one_winner(approve, reject, won=200, lost=lost) == 0
        status = (await world.council.get(path)).json()["status"]
        assert status == ("posted" if approved else "rejected")
        assert await _resolutions(partners.app, spend["id"]) == len(spend["lines"])
        paid += 150_000 if approved else 0
        totals = await _totals(world)
        assert (totals["spent"], totals["pending"]) == (paid, 0)  # posted or released, not both
    assert await _balanced(partners.app)


async def test_post_and_void_of_one_commitment_at_once(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    paid = 0
    for _ in range(ROUNDS):
        held = await world.council.post(world.budget_path("/commitments"), commitment_body(40_000))
        commitment = await created(held)
        path = f"/v1/commitments/{commitment['id']}"
        post, void = await asyncio.gather(
            world.council.post(f"{path}/post"), world.council.post(f"{path}/void")
        )
        lost = {409: {"wrong-state", "already-resolved"}}
        posted = _one_winner(post, void, won=200, lost=lost) == 0
        status = (await world.council.get(path)).json()["status"]
        assert status == ("posted" if posted else "voided")
        assert await _resolutions(partners.app, commitment["id"]) == len(commitment["lines"])
        paid += 40_000 if posted else 0
        totals = await _totals(world)
        assert (totals["spent"], totals["pending"]) == (paid, 0)
    assert await _balanced(partners.app)
