"""A small pooled budget most API tests start from, built through the public API."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.syncs.dead_letters import add_dead_letter
from service.syncs.models import AgencyConnection
from service.syncs.runs import Counts, finish_run, start_run
from tests.partners import Partner, PartnerFactory

PERIOD = {"starts_on": "2026-04-01", "ends_on": "2027-03-31"}


@dataclass
class World:
    """A council leading a budget that a housing authority also funds."""

    council: Partner
    housing: Partner
    person_id: str
    budget_id: str
    care_stream: str  # council, flexible, carried forward
    dfg_stream: str  # housing, ring-fenced to housing_adaptation, returned if unspent

    def budget_path(self, tail: str = "") -> str:
        """/v1/budgets/{id}{tail}."""
        return f"/v1/budgets/{self.budget_id}{tail}"


async def created(response: Any) -> dict[str, Any]:
    """The JSON of a 201, failing loudly otherwise."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_stream(partner: Partner, **fields: Any) -> str:
    """A stream of the partner's agency."""
    body = {"name": "Stream", "kind": "social_care", "unspent": "carry_forward", **fields}
    return str((await created(await partner.post("/v1/streams", body)))["id"])


async def allocate(partner: Partner, budget_id: str, stream_id: str, amount: int) -> dict[str, Any]:
    """A confirmed allocation."""
    body = {"stream_id": stream_id, "amount": amount, "status": "confirmed"}
    return await created(await partner.post(f"/v1/budgets/{budget_id}/allocations", body))


async def make_world(
    partners: PartnerFactory,
    *,
    care_amount: int = 500_000,
    dfg_amount: int = 2_000_000,
    dfg_threshold: int | None = None,
) -> World:
    """Council (flexible care money) and housing (DFG, ring-fenced) fund one budget."""
    council = await partners(kind="council", name="Council")
    housing = await partners(kind="housing", name="Housing")
    person = await created(
        await council.post(
            "/v1/people",
            {
                "reference": f"P-{uuid.uuid4().hex[:6]}",
                "name": "Sam",
                "date_of_birth": "1980-05-01",
            },
        )
    )
    budget = await created(
        await council.post(
            "/v1/budgets",
            {
                "person_id": person["id"],
                "currency": "GBP",
                "deployment": "direct_payment",
                **PERIOD,
            },
        )
    )
    await created(
        await council.post(
            f"/v1/budgets/{budget['id']}/funders", {"agency_id": str(housing.agency_id)}
        )
    )
    care = await make_stream(council, name="Adult social care")
    dfg = await make_stream(
        housing,
        name="Disabled Facilities Grant",
        kind="housing_adaptation",
        categories=["housing_adaptation"],
        unspent="return",
        cap_amount=3_000_000,
        approval_threshold_amount=dfg_threshold,
    )
    await allocate(council, budget["id"], care, care_amount)
    await allocate(housing, budget["id"], dfg, dfg_amount)
    return World(council, housing, person["id"], budget["id"], care, dfg)


def spend_body(amount: int, category: str = "personal_care", **extra: Any) -> dict[str, Any]:
    """A valid spend request."""
    return {
        "amount": amount,
        "category": category,
        "description": "Support",
        "occurred_on": "2026-06-01",
        **extra,
    }


def commitment_body(
    amount: int,
    category: str = "respite",
    expires_at: str = "2030-01-01T00:00:00Z",
) -> dict[str, Any]:
    """A valid commitment request."""
    return {
        "amount": amount,
        "category": category,
        "description": "Booked support",
        "expires_at": expires_at,
    }


async def _council_connection(session: AsyncSession, world: World) -> AgencyConnection:
    """The council's connection to its system, made the first time it is asked for."""
    connection = await session.scalar(
        select(AgencyConnection).where(AgencyConnection.agency_id == world.council.agency_id)
    )
    if connection is None:
        connection = AgencyConnection(
            agency_id=world.council.agency_id,
            adapter="council",
            url="http://127.0.0.1:9",
            stream_id=uuid.UUID(world.care_stream),
        )
        session.add(connection)
        await session.flush()
    return connection


async def make_sync_run(app: FastAPI, world: World, **counts: int) -> str:
    """A finished sync of the council's system (its connection made first) with these
    counts. Its id."""
    async with app.state.sessionmaker() as session, session.begin():
        connection = await _council_connection(session, world)
        run = await start_run(session, connection_id=connection.id)
        await finish_run(session, run_id=run.id, counts=Counts(**counts), error=None)
        return str(run.id)


async def make_dead_letter(app: FastAPI, world: World) -> str:
    """A record the council's system sent that could not be used (its connection made first),
    for the world's person, whole: a replay would use it. Its id."""
    person = (await world.council.get(f"/v1/people/{world.person_id}")).json()
    agreement = {
        "id": f"SA-{uuid.uuid4().hex[:8]}",
        "version": 1,
        "status": "active",
        "person_ref": person["reference"],
        "delivery_mechanism": "Direct Payment",
        "start": PERIOD["starts_on"],
        "end": PERIOD["ends_on"],
        "total_net_cost": "100.00",
        "line_items": [],
    }
    async with app.state.sessionmaker() as session, session.begin():
        connection = await _council_connection(session, world)
        letter = await add_dead_letter(
            session,
            connection_id=connection.id,
            run_id=None,
            reason="No budget your agency leads or funds is for this person",
            raw=json.dumps(agreement),
            reference=agreement["id"],
            version=1,
            cursor=None,
        )
        return str(letter.id)
