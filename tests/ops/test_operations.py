"""Operations endpoints, request ids and the commitment expiry sweep."""

from datetime import timedelta

import httpx

from service.main import sweep_commitments_once
from tests.clock import MovableClock
from tests.partners import PartnerFactory
from tests.world import World, commitment_body, created, make_world


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    metrics = await client.get("/metrics")
    # Counted per route and status, not merely declared.
    counted = 'onebudget_http_requests_total{method="GET",route="/readyz",status="200"}'
    assert counted in metrics.text


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_the_sweep_releases_a_commitment_once_the_clock_passes_its_expiry(
    partners: PartnerFactory, clock: MovableClock
) -> None:
    world = await make_world(partners, care_amount=100_000)
    expires = clock.now + timedelta(minutes=30)
    body = commitment_body(40_000, expires_at=expires.isoformat())
    commitment = await created(await world.council.post(world.budget_path("/commitments"), body))
    path = f"/v1/commitments/{commitment['id']}"
    clock.advance(timedelta(minutes=29))
    assert await sweep_commitments_once(partners.app) == 0  # not due yet: nothing moves
    assert (await world.council.get(path)).json()["status"] == "pending"
    assert (await _totals(world))["pending"] == 40_000
    clock.now = expires  # due at its expiry, not a tick later
    assert await sweep_commitments_once(partners.app) == 1
    assert (await world.council.get(path)).json()["status"] == "expired"
    budget = (await world.council.get(world.budget_path())).json()
    assert budget["totals"]["pending"] == 0 and budget["totals"]["spent"] == 0
    assert all(stream["available"] == stream["allocated"] for stream in budget["streams"])
    assert await sweep_commitments_once(partners.app) == 0  # released once, not again
    late = await world.council.post(f"{path}/post")
    assert late.status_code == 409 and late.json()["type"].endswith("/wrong-state")


async def _totals(world: World) -> dict[str, int]:
    """The budget's totals as its lead reads them."""
    totals: dict[str, int] = (await world.council.get(world.budget_path())).json()["totals"]
    return totals
