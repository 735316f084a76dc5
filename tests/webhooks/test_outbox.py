"""The outbox: messages written with the change, only for subscribed endpoints in reach.

These read the outbox (webhook_message) and the job queue (pgqueuer) straight after each
request, in the test's own transaction; delivery is tests/webhooks/test_delivery.py.
"""

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from service.domain.vocabulary import EventType
from service.webhooks.events import Event, budget_low
from service.webhooks.outbox import DELIVER, publish
from tests.partners import Partner, PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body

ENDPOINTS = "/v1/webhook-endpoints"
HOOK = "http://127.0.0.1:9/hooks"


async def _endpoint(partner: Partner, events: list[str] | None = None) -> str:
    body: dict[str, Any] = {"url": HOOK} if events is None else {"url": HOOK, "events": events}
    return str((await created(await partner.post(ENDPOINTS, body)))["id"])


async def _messages(app: FastAPI) -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT endpoint_id, budget_id, event_id, event_type, data FROM webhook_message"
                " ORDER BY seq"
            )
        )
        return [dict(row._mapping) for row in rows]


async def _jobs(app: FastAPI) -> list[str]:
    """The payloads of the queued delivery jobs."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT convert_from(payload, 'UTF8') FROM pgqueuer WHERE entrypoint = :kind"),
            {"kind": DELIVER},
        )
        return [payload for (payload,) in rows]


async def test_a_spend_is_written_for_each_subscribed_endpoint_of_the_budgets_agencies(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    outsider = await partners(kind="other", name="Outsider")
    lead = await _endpoint(world.council)
    funder = await _endpoint(world.housing, ["spend.posted", "spend.reversed"])
    await _endpoint(world.housing, ["allocation.confirmed"])  # not subscribed to spends
    await _endpoint(outsider)  # reaches no budget of the world
    spend = await created(
        await world.council.post(world.budget_path("/spends"), spend_body(1_234, payee="Ann"))
    )
    messages = await _messages(app)
    assert {(str(m["endpoint_id"]), m["event_type"]) for m in messages} == {
        (lead, "spend.posted"),
        (funder, "spend.posted"),
    }
    first, second = messages
    assert first["event_id"] == second["event_id"]  # one event, one webhook-id everywhere
    assert str(first["budget_id"]) == world.budget_id
    line = spend["lines"][0]
    assert first["data"] == {
        "budget_id": world.budget_id,
        "spend_id": spend["id"],
        "amount": 1_234,
        "status": "posted",
        "lines": [
            {"stream_id": line["stream_id"], "agency_id": line["agency_id"], "amount": 1_234}
        ],
    }
    assert "Ann" not in str(messages) and "Support" not in str(messages)  # nothing personal
    assert len(await _jobs(app)) == 2  # a delivery job per endpoint, queued with the spend


async def test_with_no_subscribed_endpoint_nothing_is_written_or_queued(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    await _endpoint(world.council, ["budget.low"])
    await created(await world.council.post(world.budget_path("/spends"), spend_body(100)))
    assert await _messages(app) == []
    assert await _jobs(app) == []


async def test_a_disabled_endpoint_gets_nothing(partners: PartnerFactory, app: FastAPI) -> None:
    world = await make_world(partners)
    endpoint = await _endpoint(world.council)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE webhook_endpoint SET disabled_at = now() WHERE id = :id"),
            {"id": endpoint},
        )
    await created(await world.council.post(world.budget_path("/spends"), spend_body(100)))
    assert await _messages(app) == []


async def test_messages_and_their_jobs_commit_or_roll_back_with_the_change(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)
    await _endpoint(world.council)
    budget_id = uuid.UUID(world.budget_id)
    event = Event(EventType.SPEND_POSTED, {"budget_id": world.budget_id})
    async with app.state.sessionmaker() as session:
        await session.begin()
        await publish(session, budget_id=budget_id, events=[event])
        seen = await session.scalar(text("SELECT count(*) FROM webhook_message"))
        queued = await session.scalar(text("SELECT count(*) FROM pgqueuer"))
        assert (seen, queued) == (1, 1)
        await session.rollback()
    assert await _messages(app) == [] and await _jobs(app) == []


async def _awaiting(world: World) -> dict[str, Any]:
    """A £50 housing adaptation whose DFG line awaits housing's approval."""
    path = f"/v1/streams/{world.dfg_stream}"
    etag = (await world.housing.get(path)).headers["etag"]
    changed = await world.housing.patch(
        path, {"approval_threshold_amount": 100}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    body = spend_body(5_000, "housing_adaptation")
    return await created(await world.council.post(world.budget_path("/spends"), body))


async def test_every_kind_of_change_tells_its_event(partners: PartnerFactory, app: FastAPI) -> None:
    world = await make_world(partners)
    await _endpoint(world.council)
    awaiting = await _awaiting(world)
    approved = await world.housing.post(f"/v1/spends/{awaiting['id']}/approve")
    assert approved.status_code == 200, approved.text
    rejected = await _awaiting(world)
    assert (await world.housing.post(f"/v1/spends/{rejected['id']}/reject")).status_code == 200
    posted = await created(await world.council.post(world.budget_path("/spends"), spend_body(700)))
    reversal = await created(await world.council.post(f"/v1/spends/{posted['id']}/reverse"))
    indicative = {"stream_id": world.care_stream, "amount": 1_000, "status": "indicative"}
    allocation = await created(
        await world.council.post(world.budget_path("/allocations"), indicative)
    )
    adjusted = await world.council.post(
        f"/v1/allocations/{allocation['id']}/adjustments", {"amount": 1_500, "reason": "Amended"}
    )
    assert adjusted.status_code == 201, adjusted.text
    confirmed = await world.council.post(f"/v1/allocations/{allocation['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    await created(await world.council.post(world.budget_path("/commitments"), commitment_body(10)))
    told = [(m["event_type"], m["data"]) for m in await _messages(app)]
    assert [kind for kind, _ in told] == [
        "spend.pending_approval",
        "spend.approved",
        "spend.pending_approval",
        "spend.rejected",
        "spend.posted",
        "spend.reversed",
        "allocation.adjusted",
        "allocation.confirmed",
    ]
    data = dict(told)
    assert data["spend.approved"]["status"] == "posted"
    assert data["spend.rejected"]["spend_id"] == rejected["id"]
    assert data["spend.reversed"]["reversal_id"] == reversal["id"]
    assert data["allocation.adjusted"]["amount"] == 1_500
    assert data["allocation.adjusted"]["applied_amount"] == 500
    assert data["allocation.confirmed"] == {
        "budget_id": world.budget_id,
        "allocation_id": allocation["id"],
        "stream_id": world.care_stream,
        "amount": 1_500,
    }


async def test_budget_low_is_told_once_when_available_money_falls_below_the_threshold(
    partners: PartnerFactory, app: FastAPI
) -> None:
    world = await make_world(partners)  # £5,000 care and £20,000 DFG: £25,000 funded
    await _endpoint(world.council, ["budget.low"])
    spends = world.budget_path("/spends")
    await created(await world.council.post(spends, spend_body(2_000_000, "housing_adaptation")))
    await created(await world.council.post(spends, spend_body(250_000)))  # £2,500 left: 10%
    assert await _messages(app) == []
    await created(await world.council.post(spends, spend_body(1)))  # under 10%
    await created(await world.council.post(spends, spend_body(1)))  # still under: no news
    (low,) = await _messages(app)
    assert low["data"] == {
        "budget_id": world.budget_id,
        "available": 249_999,
        "funded": 2_500_000,
        "percent": 10,
    }


def test_budget_low_fires_only_on_the_crossing() -> None:
    budget_id = uuid.uuid4()

    def low(before: int, after: int) -> bool:
        found = budget_low(
            budget_id=budget_id, funded=1_000, before=before, after=after, percent=10
        )
        return bool(found)

    assert low(100, 99) and low(500, 0)
    assert not low(101, 100)  # exactly at the threshold is not below it
    assert not low(99, 50)  # below already
    assert not budget_low(budget_id=budget_id, funded=0, before=0, after=0, percent=10)
