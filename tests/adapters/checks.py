"""What must hold after syncs, whatever the faults: the ledger is the agency's awards, to
the penny and once each; every paid spend line reached its agency once."""

from typing import Any

from adapters.sync import SyncOutcome, sync_agency
from service.budgets.service import get_budget
from service.config import Settings
from tests.adapters.world import SyncWorld, deliveries, owed_line_count
from tests.sandboxes import Agency

# Syncs tried until one succeeds: each retries every call many times, so this is plenty.
SYNC_TRIES = 6


async def sync_until_done(world: SyncWorld, settings: Settings, kind: str) -> list[SyncOutcome]:
    """Sync the agency until a run succeeds (a run may give up on a call under faults)."""
    outcomes = []
    for _ in range(SYNC_TRIES):
        outcome = await sync_agency(world.sessionmaker, settings, agency_id=world.agencies[kind])
        outcomes.append(outcome)
        if outcome.status == "succeeded":
            return outcomes
    raise AssertionError(f"no {kind} sync succeeded: {[o.error for o in outcomes]}")


async def assert_ledger_is_the_awards(world: SyncWorld, agency: Agency, kind: str) -> None:
    """Each award of a person onebudget knows is one allocation of its amount and status,
    on the person's budget; the budget's stream holds exactly those amounts."""
    truth = await agency.awards()
    have = await world.allocations(kind)
    known = {ref: a for ref, a in truth.items() if a["person_ref"] in world.budgets}
    assert set(have) <= set(known), f"allocations of no award: {set(have) - set(known)}"
    expected: dict[str, dict[str, int]] = {
        person: {"allocated": 0, "indicative": 0} for person in world.budgets
    }
    for reference, award in known.items():
        funded = 0 if award["status"] == "withdrawn" else award["amount"]
        if reference not in have:
            assert funded == 0, f"{reference} ({award}) never reached the ledger"
            continue
        budget_id, amount, status = have[reference]
        assert budget_id == world.budgets[award["person_ref"]], reference
        assert amount == funded, f"{reference}: {amount} allocated, the agency says {award}"
        if award["status"] != "withdrawn":
            assert status == award["status"], f"{reference}: {status}, the agency says {award}"
        bucket = "indicative" if status == "indicative" else "allocated"
        expected[award["person_ref"]][bucket] += amount
    async with world.sessionmaker() as session:
        for person, budget_id in world.budgets.items():
            view = await get_budget(session, world.callers["council"], budget_id=budget_id)
            streams = {s.stream_id: s for s in view.streams}
            stream = streams.get(world.streams[kind])
            got = {
                "allocated": stream.allocated if stream else 0,
                "indicative": stream.indicative if stream else 0,
            }
            assert got == expected[person], f"{person}'s {kind} money"


async def assert_reported_once(world: SyncWorld, agency: Agency, kind: str) -> list[Any]:
    """Every paid line of the agency's streams is at the agency once, as sent."""
    received = await agency.received()
    ids = [report["delivery_id"] for report in received]
    assert len(ids) == len(set(ids))
    assert all(report["differing_copies"] == 0 for report in received)
    ours = await deliveries(world, kind)
    assert len(ours) == await owed_line_count(world, kind)
    assert {str(d.id) for d in ours if d.status != "rejected"} == set(ids)
    return received
