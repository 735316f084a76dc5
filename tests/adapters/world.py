"""A world for sync tests: the five Riverside agencies with a stream each, the demo's three
people with council-led budgets every agency funds, no money yet, and each agency
connected to its sandbox (credentials in mode-0600 files)."""

import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.demo import write_secret
from adapters.sandbox import RunningSandbox
from service.agencies.service import create_agency
from service.allocations.models import Allocation
from service.auth.caller import SCOPES, Caller
from service.auth.service import create_client
from service.budgets.schemas import BudgetIn
from service.budgets.service import add_funder, create_budget
from service.demo import AGENCIES, PEOPLE, PERIOD
from service.domain.vocabulary import Category, Deployment, StreamKind
from service.people.schemas import PersonIn
from service.people.service import create_person
from service.spends.models import Spend, SpendLine
from service.spends.service import record_spend
from service.streams.schemas import StreamIn
from service.streams.service import create_stream
from service.syncs.connections import connect
from service.syncs.dead_letters import request_replay
from service.syncs.models import AgencyConnection, DeadLetter, OutboundDelivery

HEALTH_STREAM = StreamIn(
    name="Personal health budget",
    kind=StreamKind.HEALTH,
    categories=[Category.HEALTH_THERAPY, Category.PERSONAL_CARE, Category.EQUIPMENT],
    unspent="return",
)
STREAMS = {spec.kind: spec.stream for spec in AGENCIES} | {"health": HEALTH_STREAM}


@dataclass
class SyncWorld:
    """Who is who in the test database."""

    sessionmaker: async_sessionmaker[AsyncSession]
    agencies: dict[str, uuid.UUID] = field(default_factory=dict)  # by kind
    streams: dict[str, uuid.UUID] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    budgets: dict[str, uuid.UUID] = field(default_factory=dict)  # by person reference

    async def allocations(self, kind: str) -> dict[str, tuple[uuid.UUID, int, str]]:
        """The kind's allocations by award reference: (budget, amount, status)."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Allocation).where(Allocation.stream_id == self.streams[kind])
            )
            found: dict[str, tuple[uuid.UUID, int, str]] = {}
            for (allocation,) in rows.all():
                assert allocation.award_reference is not None, "an allocation no award made"
                assert allocation.award_reference not in found, "an award allocated twice"
                found[allocation.award_reference] = (
                    allocation.budget_id,
                    allocation.amount,
                    allocation.status.value,
                )
            return found

    async def count(self, table: Any, *where: Any) -> int:
        """Rows of a table (matching `where`)."""
        async with self.sessionmaker() as session:
            return int(
                await session.scalar(select(func.count()).select_from(table).where(*where)) or 0
            )


def write_credentials(folder: Path, kind: str, values: dict[str, str]) -> Path:
    """A secrets file only its owner reads."""
    path = folder / f"{kind}-credentials.json"
    write_secret(path, values)
    return path


async def build_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    sandboxes: dict[str, RunningSandbox],
    folder: Path,
) -> SyncWorld:
    """Agencies, streams, people and budgets, each agency connected to its sandbox."""
    world = SyncWorld(sessionmaker)
    async with sessionmaker() as session, session.begin():
        for kind, stream in STREAMS.items():
            agency = await create_agency(
                session, name=f"Riverside {kind} {uuid.uuid4().hex[:6]}", kind=kind
            )
            client, _ = await create_client(
                session, agency_id=agency.id, name="Test system", scope=" ".join(SCOPES)
            )
            caller = Caller(client.id, client.client_id, agency.id, frozenset(SCOPES))
            world.agencies[kind], world.callers[kind] = agency.id, caller
            world.streams[kind] = (await create_stream(session, caller, data=stream)).id
        council = world.callers["council"]
        for spec in PEOPLE:
            person = await create_person(
                session,
                council,
                data=PersonIn(reference=spec.reference, name=spec.name, date_of_birth=spec.born),
            )
            budget = await create_budget(
                session,
                council,
                data=BudgetIn(
                    person_id=person.id,
                    starts_on=PERIOD[0],
                    ends_on=PERIOD[1],
                    currency="GBP",
                    deployment=Deployment.MIXED,
                ),
            )
            world.budgets[spec.reference] = budget.id
            for kind in STREAMS:
                if kind != "council":
                    await add_funder(
                        session, council, budget_id=budget.id, agency_id=world.agencies[kind]
                    )
        for kind, sandbox in sandboxes.items():
            await connect(
                session,
                agency_id=world.agencies[kind],
                adapter=kind,
                url=sandbox.url,
                credentials_file=write_credentials(folder, kind, sandbox.credentials),
            )
    return world


async def spend(world: SyncWorld, person_ref: str, category: Category, amount: int) -> uuid.UUID:
    """A purchase the council records on the person's budget (the pooling engine splits it)."""
    async with world.sessionmaker() as session, session.begin():
        made = await record_spend(
            session,
            world.callers["council"],
            spend_id=uuid.uuid4(),
            budget_id=world.budgets[person_ref],
            amount=amount,
            category=category,
            description=f"{category.value} for {person_ref}",
            occurred_on=date(2026, 11, 20),
            payee="Riverside Supplies Ltd",
            split=None,
        )
    return made.id


async def request_every_replay(world: SyncWorld, kind: str) -> int:
    """Ask for a replay of each of the agency's dead letters not used yet; how many."""
    async with world.sessionmaker() as session, session.begin():
        letters = (
            await session.scalars(
                select(DeadLetter)
                .join(AgencyConnection, AgencyConnection.id == DeadLetter.connection_id)
                .where(
                    AgencyConnection.agency_id == world.agencies[kind],
                    DeadLetter.replayed_at.is_(None),
                )
            )
        ).all()
        for letter in letters:
            await request_replay(session, agency_id=world.agencies[kind], letter_id=letter.id)
    return len(letters)


async def dead_letters(world: SyncWorld, kind: str) -> list[DeadLetter]:
    """The agency's dead letters, oldest first."""
    async with world.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(DeadLetter)
                    .join(AgencyConnection, AgencyConnection.id == DeadLetter.connection_id)
                    .where(AgencyConnection.agency_id == world.agencies[kind])
                    .order_by(DeadLetter.created_at)
                )
            ).all()
        )


async def deliveries(world: SyncWorld, kind: str) -> list[OutboundDelivery]:
    """What was reported to the agency."""
    async with world.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(OutboundDelivery)
                    .join(AgencyConnection, AgencyConnection.id == OutboundDelivery.connection_id)
                    .where(AgencyConnection.agency_id == world.agencies[kind])
                )
            ).all()
        )


async def owed_line_count(world: SyncWorld, kind: str) -> int:
    """Paid spend lines of the agency's streams: each must reach the agency once."""
    async with world.sessionmaker() as session:
        query = (
            select(func.count())
            .select_from(SpendLine)
            .join(Spend, Spend.id == SpendLine.spend_id)
            .where(
                SpendLine.agency_id == world.agencies[kind],
                Spend.status == "posted",
                Spend.kind == "spend",
            )
        )
        return int(await session.scalar(query) or 0)
