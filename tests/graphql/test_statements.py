"""A caseload page costs a fixed number of SQL statements, whatever its size (DataLoaders).

Every statement of the request is counted: those SQLAlchemy sends (before_cursor_execute)
and the prepared statements the hot paths send straight to asyncpg (service.sql.Statement).
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from service.sql import Statement
from tests.graphql.client import as_partner
from tests.graphql.documents import CASELOAD
from tests.partners import PartnerFactory
from tests.world import (
    World,
    allocate,
    created,
    make_dead_letter,
    make_sync_run,
    make_world,
    spend_body,
)


@contextlib.contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs, in order."""
    sent: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    prepared = Statement._run

    async def run(self: Statement, session: Any, method: str, params: Any) -> Any:
        sent.append(self.sql)
        return await prepared(self, session, method, params)

    monkeypatch.setattr(Statement, "_run", run)
    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        monkeypatch.setattr(Statement, "_run", prepared)


async def _caseload(world: World, budgets: int) -> None:
    """`budgets` budgets in all for the world's person, each funded and with two spends."""
    for n in range(budgets - 1):
        body = {
            "person_id": world.person_id,
            "starts_on": "2026-04-01",
            "ends_on": "2027-03-31",
            "currency": "GBP",
            "deployment": "managed",
        }
        budget = await created(await world.council.post("/v1/budgets", body))
        await allocate(world.council, budget["id"], world.care_stream, 10_000 + n)
        for amount in (100, 200):
            path = f"/v1/budgets/{budget['id']}/spends"
            await created(await world.council.post(path, spend_body(amount)))
    for amount in (300, 400):
        await created(await world.council.post(world.budget_path("/spends"), spend_body(amount)))


async def test_a_caseload_page_costs_the_same_few_statements_at_any_size(
    partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(partners)
    await _caseload(world, 50)
    counts = {}
    for first in (5, 50):
        with statements(monkeypatch) as sent:
            answer = await as_partner(world.council, CASELOAD, first=first)
        edges = answer.data["budgets"]["edges"]
        assert len(edges) == first
        assert all(len(edge["node"]["spends"]["edges"]) == 2 for edge in edges)
        assert all(edge["node"]["person"]["id"] == world.person_id for edge in edges)
        # The test's savepoints are the fixture's doing (tests/conftest.py), not the app's.
        counts[first] = [s for s in sent if not s.startswith(("SAVEPOINT", "RELEASE"))]
    listed = "\n\n".join(counts[50])
    assert len(counts[5]) == len(counts[50]), listed
    # The client check, the page, three for the balances, people, streams, spends, their
    # lines, agencies: measured 10 (2026-11-27).
    assert len(counts[50]) <= 10, listed


async def test_each_budgets_lead_agency_syncs_cost_two_statements_in_all(
    partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caseload page showing its lead agency's last sync and dead letters on every budget
    reads them once: the loaders see one agency, whatever the page's size."""
    world = await make_world(partners)
    await _caseload(world, 10)
    await make_sync_run(partners.app, world, fetched=2, created=2)
    await make_dead_letter(partners.app, world)
    query = """query($first: Int!) { budgets(first: $first) { edges { node { id leadAgency {
        lastSync { id fetched } deadLetters(first: 5) { edges { node { id reason } } } } } } } }"""
    counts = {}
    for first in (2, 10):
        with statements(monkeypatch) as sent:
            answer = await as_partner(world.council, query, first=first)
        agencies = [edge["node"]["leadAgency"] for edge in answer.data["budgets"]["edges"]]
        assert len(agencies) == first and all(a["lastSync"]["fetched"] == 2 for a in agencies)
        assert all(len(a["deadLetters"]["edges"]) == 1 for a in agencies)
        counts[first] = [s for s in sent if not s.startswith(("SAVEPOINT", "RELEASE"))]
    listed = "\n\n".join(counts[10])
    assert len(counts[2]) == len(counts[10]), listed
    # The client check, the page, three for the balances, the agency, its last run, its
    # dead letters: measured 8.
    assert len(counts[10]) <= 8, listed
