"""A budget's subscribers hear of every committed change to it, and of nothing else.

The app runs in-process against the test's own database (notifications are delivered only
on a real commit), with a hub listening on that database (the `budget_events` fixture).
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from service.auth.caller import SCOPES, Caller
from service.auth.models import OAuthClient
from service.domain.vocabulary import Category
from service.events.hub import BudgetEvents, BudgetSignal, Subscription
from service.main import sweep_commitments_once
from service.spends.service import record_spend
from tests.clock import MovableClock
from tests.live import drained, next_signal, nothing_pending, take_whatever_came
from tests.partners import Partner, PartnerFactory
from tests.world import (
    World,
    allocate,
    commitment_body,
    created,
    make_stream,
    make_world,
    spend_body,
)


async def _quiet_subscription_after(app: FastAPI, hub: BudgetEvents, signals: Subscription) -> bool:
    """True if nothing committed so far woke the subscriber."""
    await drained(hub, app.state.sessionmaker)
    return await nothing_pending(signals)


async def test_a_committed_spend_wakes_its_budget_s_subscribers_only(
    partners: PartnerFactory, budget_events: BudgetEvents
) -> None:
    world = await make_world(partners)
    budget_id, other_id = uuid.UUID(world.budget_id), uuid.uuid4()
    await drained(budget_events, partners.app.state.sessionmaker)  # the set-up is behind us
    async with (
        budget_events.subscribe(budget_id) as first,
        budget_events.subscribe(budget_id) as second,
        budget_events.subscribe(other_id) as elsewhere,
    ):
        await created(await world.council.post(world.budget_path("/spends"), spend_body(1_000)))
        assert await next_signal(first) == BudgetSignal(budget_id, gap=False)
        assert await next_signal(second) == BudgetSignal(budget_id, gap=False)
        assert await _quiet_subscription_after(partners.app, budget_events, elsewhere)


async def test_a_refused_spend_wakes_nobody(
    partners: PartnerFactory, budget_events: BudgetEvents
) -> None:
    world = await make_world(partners, care_amount=10_000)
    await drained(budget_events, partners.app.state.sessionmaker)
    async with budget_events.subscribe(uuid.UUID(world.budget_id)) as signals:
        refused = await world.council.post(world.budget_path("/spends"), spend_body(900_000))
        assert refused.status_code == 422, refused.text
        assert await _quiet_subscription_after(partners.app, budget_events, signals)


async def _caller(app: FastAPI, partner: Partner) -> Caller:
    """The partner's client as the services see it once its token is verified."""
    async with app.state.sessionmaker() as session:
        client_pk = await session.scalar(
            select(OAuthClient.id).where(OAuthClient.client_id == partner.client_id)
        )
    assert client_pk is not None
    return Caller(client_pk, partner.client_id, partner.agency_id, frozenset(SCOPES))


async def test_a_spend_is_announced_on_commit_and_never_when_rolled_back(
    partners: PartnerFactory, budget_events: BudgetEvents
) -> None:
    """The announcement rides in the spend's own write: it shares the transaction's fate."""
    app = partners.app
    world = await make_world(partners)
    caller = await _caller(app, world.council)
    budget_id = uuid.UUID(world.budget_id)

    async def spend(*, commit: bool) -> None:
        async with app.state.sessionmaker() as session:
            await record_spend(
                session,
                caller,
                spend_id=uuid.uuid4(),
                budget_id=budget_id,
                amount=500,
                category=Category.PERSONAL_CARE,
                description="Support",
                occurred_on=date(2026, 6, 1),
                payee=None,
                split=None,
            )
            await (session.commit() if commit else session.rollback())

    await drained(budget_events, app.state.sessionmaker)
    async with budget_events.subscribe(budget_id) as signals:
        await spend(commit=False)
        assert await _quiet_subscription_after(app, budget_events, signals)
        await spend(commit=True)
        assert await next_signal(signals) == BudgetSignal(budget_id, gap=False)


async def _ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, str]:
    """The JSON of an answer of this status, failing loudly otherwise."""
    answer = await response
    assert answer.status_code == status, answer.text
    body: dict[str, str] = answer.json()
    return body


async def test_every_kind_of_change_to_a_budget_is_announced(
    partners: PartnerFactory, budget_events: BudgetEvents, clock: MovableClock
) -> None:
    """Each change the budget shows, made through the API (or the sweep), wakes it once."""
    app = partners.app
    world = await make_world(partners, dfg_threshold=100_000)
    council, housing = world.council, world.housing
    budget_id = uuid.UUID(world.budget_id)
    spends, commitments = world.budget_path("/spends"), world.budget_path("/commitments")
    big_spend = spend_body(150_000, "housing_adaptation")
    later = (clock.now + timedelta(days=30)).isoformat()  # the app's clock is the test's

    def hold(amount: int, category: str = "respite", expires_at: str = later) -> dict[str, object]:
        return commitment_body(amount, category, expires_at)

    async with budget_events.subscribe(budget_id) as signals:

        async def announces(change: str, make: Callable[[], Awaitable[object]]) -> None:
            await take_whatever_came(budget_events, app.state.sessionmaker, signals)  # set-up's
            await make()
            assert await next_signal(signals) == BudgetSignal(budget_id, gap=False), change
            assert await _quiet_subscription_after(app, budget_events, signals), change

        await announces("spend recorded", lambda: _ok(council.post(spends, spend_body(2_000)), 201))
        awaiting = await created(await council.post(spends, big_spend))
        approve = f"/v1/spends/{awaiting['id']}/approve"
        await announces("spend approved (paid)", lambda: _ok(housing.post(approve)))
        awaiting = await created(await council.post(spends, big_spend))
        reject = f"/v1/spends/{awaiting['id']}/reject"
        await announces("spend rejected", lambda: _ok(housing.post(reject)))
        posted = await created(await council.post(spends, spend_body(1_000)))
        reverse = f"/v1/spends/{posted['id']}/reverse"
        await announces("spend reversed", lambda: _ok(council.post(reverse), 201))
        await announces("commitment made", lambda: _ok(council.post(commitments, hold(1_000)), 201))
        held = await created(await council.post(commitments, hold(1_000)))
        post = f"/v1/commitments/{held['id']}/post"
        await announces("commitment posted", lambda: _ok(council.post(post)))
        held = await created(await council.post(commitments, hold(1_000)))
        void = f"/v1/commitments/{held['id']}/void"
        await announces("commitment voided", lambda: _ok(council.post(void)))
        big_hold = hold(150_000, "housing_adaptation")
        awaiting = await created(await council.post(commitments, big_hold))
        approve = f"/v1/commitments/{awaiting['id']}/approve"
        await announces("commitment approved (no money moves)", lambda: _ok(housing.post(approve)))
        expires = clock.now + timedelta(minutes=5)
        await created(await council.post(commitments, hold(1_000, expires_at=expires.isoformat())))
        clock.now = expires

        async def sweep() -> None:
            assert await sweep_commitments_once(app) == 1

        await announces("commitment expired by the sweep", sweep)
        stream = await make_stream(council, name="Respite")
        allocations = world.budget_path("/allocations")
        indicative = {"stream_id": stream, "amount": 5_000, "status": "indicative"}
        made: dict[str, str] = {}

        async def allocate_indicative() -> None:
            made.update(await _ok(council.post(allocations, indicative), 201))

        await announces("allocation made (indicative)", allocate_indicative)
        adjust = f"/v1/allocations/{made['id']}/adjustments"
        await announces(
            "allocation adjusted (indicative)",
            lambda: _ok(council.post(adjust, {"amount": 6_000, "reason": "Amended"}), 201),
        )
        confirm = f"/v1/allocations/{made['id']}/confirm"
        await announces("allocation confirmed", lambda: _ok(council.post(confirm)))
        await announces(
            "allocation adjusted (money moves)",
            lambda: _ok(council.post(adjust, {"amount": 5_500, "reason": "Amended"}), 201),
        )
        await announces(
            "allocation made (confirmed)", lambda: allocate(council, world.budget_id, stream, 10)
        )
        await announces("funder added", lambda: _add_funder(partners, world))
        await announces("budget updated", lambda: _redeploy(world))


async def _add_funder(partners: PartnerFactory, world: World) -> None:
    equipment = await partners(kind="equipment", name=f"Equipment {uuid.uuid4().hex[:6]}")
    body = {"agency_id": str(equipment.agency_id)}
    await created(await world.council.post(world.budget_path("/funders"), body))


async def _redeploy(world: World) -> None:
    etag = (await world.council.get(world.budget_path())).headers["etag"]
    changed = await world.council.patch(
        world.budget_path(), {"deployment": "managed"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text


async def test_a_slow_subscriber_holds_one_signal_however_many_changes_it_missed(
    partners: PartnerFactory, budget_events: BudgetEvents
) -> None:
    """It only needs to know the budget changed: a burst wakes it once, and memory stays flat."""
    world = await make_world(partners)
    budget_id = uuid.UUID(world.budget_id)
    await drained(budget_events, partners.app.state.sessionmaker)
    async with (
        budget_events.subscribe(budget_id) as slow,
        budget_events.subscribe(budget_id) as keeping_up,
    ):
        woken, spends = 0, world.budget_path("/spends")
        for amount in range(100, 130):
            await created(await world.council.post(spends, spend_body(amount)))
            await next_signal(keeping_up)
            woken += 1
        await drained(budget_events, partners.app.state.sessionmaker)
        assert woken == 30
        assert await next_signal(slow) == BudgetSignal(budget_id, gap=False)
        assert await nothing_pending(slow)
