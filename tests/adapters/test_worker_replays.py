"""A replay asked for over the API queues a sync that `onebudget worker` runs: the dead
letter's award lands once its cause (a person onebudget did not know) is fixed."""

import asyncio

from service.budgets.schemas import BudgetIn
from service.budgets.service import create_budget
from service.config import Settings
from service.demo import PERIOD
from service.domain.vocabulary import Deployment
from service.jobs.worker import run_worker
from service.people.schemas import PersonIn
from service.people.service import create_person
from service.syncs.dead_letters import request_replay
from tests.adapters.checks import sync_until_done
from tests.adapters.world import SyncWorld, dead_letters
from tests.sandboxes import Agency, eventually

PETER = "RC-100764"


async def test_the_worker_replays_a_dead_letter_once_asked(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Settings, database_url: str
) -> None:
    await sync_until_done(world, sync_settings, "council")
    [letter] = [d for d in await dead_letters(world, "council") if PETER in d.reason]
    async with world.sessionmaker() as session, session.begin():
        person = await create_person(
            session,
            world.callers["council"],
            data=PersonIn(reference=PETER, name="Peter Walsh", date_of_birth="1962-07-19"),
        )
        budget = await create_budget(
            session,
            world.callers["council"],
            data=BudgetIn(
                person_id=person.id,
                starts_on=PERIOD[0],
                ends_on=PERIOD[1],
                currency="GBP",
                deployment=Deployment.DIRECT_PAYMENT,
            ),
        )
        await request_replay(session, agency_id=world.agencies["council"], letter_id=letter.id)

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(database_url, sync_settings, stop=stop))
    try:

        async def replayed() -> bool:
            letters = {d.id: d for d in await dead_letters(world, "council")}
            return letters[letter.id].replayed_at is not None

        await eventually(replayed, seconds=30)
    finally:
        stop.set()
        await worker
    assert (await world.allocations("council"))[letter.reference or ""] == (
        budget.id,
        1_359_800,
        "confirmed",
    )
