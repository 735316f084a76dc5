"""A sync stopped midway starts again from its cursor, doubling nothing; two syncs of one
agency never run at once."""

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import delete, select

from adapters.base import (
    AgencyAdapter,
    AwardPage,
    AwardRecord,
    DeliveryResult,
    ParseFailure,
    SpendReport,
)
from adapters.jobs import sync_every_agency
from adapters.registry import make_adapter
from adapters.sync import sync_agency
from service.config import Settings
from service.domain.vocabulary import Category
from service.jobs.context import WorkerContext
from service.syncs.locks import SyncBusy
from service.syncs.models import AgencyConnection, OutboundDelivery, SyncRun
from tests.adapters.checks import (
    assert_ledger_is_the_awards,
    assert_reported_once,
    sync_until_done,
)
from tests.adapters.world import SyncWorld, spend
from tests.sandboxes import Agency


class Killed(BaseException):
    """The process died here (nothing after it runs, as after kill -9)."""


class DiesAfter:
    """An adapter that dies as it fetches page `pages + 1`."""

    def __init__(self, inner: AgencyAdapter, pages: int) -> None:
        self.inner, self.pages, self.kind = inner, pages, inner.kind

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        if self.pages == 0:
            raise Killed()
        self.pages -= 1
        return await self.inner.fetch_awards(cursor)

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        return await self.inner.push_spends(reports)

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        return self.inner.read(raw)

    async def aclose(self) -> None:
        """Left open: a killed process closes nothing."""


async def test_a_sync_killed_midway_resumes_from_its_cursor(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    council = agencies["council"]
    await council.control(
        "POST",
        "/awards",
        {"awards": [{"person_ref": "RC-100231", "amount": 10_000 + n} for n in range(10)]},
    )
    await council.set_faults(duplicate=0.3, out_of_order=0.5)

    def dying(connection: AgencyConnection, settings: Settings) -> AgencyAdapter:
        return DiesAfter(make_adapter(connection, settings), pages=2)

    with pytest.raises(Killed):
        await sync_agency(
            world.sessionmaker,
            sync_settings,
            agency_id=world.agencies["council"],
            adapter_factory=dying,
        )
    async with world.sessionmaker() as session:
        connection = await session.get(AgencyConnection, await _connection_id(world))
        assert connection is not None and connection.cursor is not None  # two pages kept
    applied_before = len(await world.allocations("council"))
    assert 0 < applied_before < 13

    outcomes = await sync_until_done(world, sync_settings, "council")
    assert outcomes[-1].counts.fetched < 15 + 10  # it did not read from the beginning
    await assert_ledger_is_the_awards(world, council, "council")
    async with world.sessionmaker() as session:
        runs = {run.status: run for run in (await session.scalars(select(SyncRun))).all()}
    assert runs["failed"].error is not None and "interrupted" in runs["failed"].error


async def _connection_id(world: SyncWorld) -> Any:
    async with world.sessionmaker() as session:
        return await session.scalar(
            select(AgencyConnection.id).where(
                AgencyConnection.agency_id == world.agencies["council"]
            )
        )


async def test_two_syncs_of_one_agency_never_run_at_once(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    council = agencies["council"]
    await council.set_faults(latency=1.0)  # every call waits: the first sync is still running
    first, second = await asyncio.gather(
        sync_agency(world.sessionmaker, sync_settings, agency_id=world.agencies["council"]),
        sync_agency(world.sessionmaker, sync_settings, agency_id=world.agencies["council"]),
        return_exceptions=True,
    )
    outcomes = [first, second]
    busy = [o for o in outcomes if isinstance(o, SyncBusy)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(busy) == 1 and len(done) == 1, outcomes
    assert done[0].status == "succeeded"
    await council.set_faults(latency=0.0)
    await assert_ledger_is_the_awards(world, council, "council")


async def test_the_scheduled_job_syncs_every_agency(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    await sync_every_agency(WorkerContext(world.sessionmaker, sync_settings))
    for kind, agency in agencies.items():
        await assert_ledger_is_the_awards(world, agency, kind)


async def test_a_report_whose_answer_was_lost_goes_again_under_the_same_delivery_id(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Settings
) -> None:
    await sync_until_done(world, sync_settings, "housing")
    for amount in (1_111, 2_222):
        await spend(world, "RC-100231", Category.HOUSING_ADAPTATION, amount)
    await sync_until_done(world, sync_settings, "housing")
    # As if the process died after the agency recorded them, before onebudget did.
    async with world.sessionmaker() as session, session.begin():
        await session.execute(delete(OutboundDelivery))
    await sync_until_done(world, sync_settings, "housing")
    received = await assert_reported_once(world, agencies["housing"], "housing")
    assert [report["deliveries"] for report in received] == [2, 2]
