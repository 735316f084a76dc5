"""Operations endpoints, request ids and the commitment expiry sweep."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from service.spends.expiry import expire_commitments
from tests.partners import PartnerFactory
from tests.world import commitment_body, created, make_world


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    metrics = await client.get("/metrics")
    assert "onebudget_http_requests_total" in metrics.text


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_expired_commitments_release_their_money(partners: PartnerFactory) -> None:
    world = await make_world(partners, care_amount=100_000)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    commitment = await created(
        await world.council.post(
            world.budget_path("/commitments"),
            commitment_body(40_000, expires_at=soon.isoformat()),
        )
    )
    async with partners.app.state.sessionmaker() as session, session.begin():
        assert await expire_commitments(session, now=soon + timedelta(seconds=1)) == 1
    read = await world.council.get(f"/v1/commitments/{commitment['id']}")
    assert read.json()["status"] == "expired"
    totals = (await world.council.get(world.budget_path())).json()["totals"]
    assert totals["pending"] == 0 and totals["available"] == totals["allocated"]
    late = await world.council.post(f"/v1/commitments/{commitment['id']}/post")
    assert late.status_code == 409


async def test_an_expired_commitment_cannot_be_paid_even_before_the_sweep(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners, care_amount=100_000)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    commitment = await created(
        await world.council.post(
            world.budget_path("/commitments"),
            commitment_body(40_000, expires_at=soon.isoformat()),
        )
    )
    await asyncio.sleep(1.2)
    late = await world.council.post(f"/v1/commitments/{commitment['id']}/post")
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]
    async with partners.app.state.sessionmaker() as session, session.begin():
        assert await expire_commitments(session, now=datetime.now(UTC)) == 1
    totals = (await world.council.get(world.budget_path())).json()["totals"]
    assert totals["pending"] == 0 and totals["spent"] == 0
