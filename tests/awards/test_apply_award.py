"""Applying an agency's awards: idempotent by reference, adjusted never edited, never forced."""

import uuid
from typing import Any

import pytest

from service.allocations.awards import AwardChange, AwardOutcome, apply_award
from service.auth.caller import SCOPES, Caller
from service.domain.errors import NotFound
from tests.partners import Partner, PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body


def _caller(partner: Partner) -> Caller:
    """The agency's adapter, acting for it (the client row plays no part in awards)."""
    return Caller(uuid.uuid4(), partner.client_id, partner.agency_id, frozenset(SCOPES))


async def _apply(
    partners: PartnerFactory,
    world: World,
    *,
    amount: int,
    confirmed: bool = True,
    reference: str = "SA-2026-0042",
    partner: Partner | None = None,
    stream_id: str | None = None,
) -> AwardOutcome:
    """Apply one award of the council's care stream, in a transaction of its own."""
    async with partners.app.state.sessionmaker() as session, session.begin():
        return await apply_award(
            session,
            _caller(partner or world.council),
            budget_id=uuid.UUID(world.budget_id),
            stream_id=uuid.UUID(stream_id or world.care_stream),
            reference=reference,
            amount=amount,
            confirmed=confirmed,
            reason="Service agreement SA-2026-0042",
        )


async def _care(world: World) -> dict[str, Any]:
    budget = (await world.council.get(world.budget_path())).json()
    care: dict[str, Any] = next(s for s in budget["streams"] if s["stream_id"] == world.care_stream)
    return care


async def test_an_award_seen_twice_is_allocated_once(partners: PartnerFactory) -> None:
    world = await make_world(partners, care_amount=1)
    first = await _apply(partners, world, amount=57_572)
    assert (first.change, first.moved_amount) == (AwardChange.CREATED, 57_572)
    again = await _apply(partners, world, amount=57_572)
    assert (again.change, again.allocation_id, again.moved_amount) == (
        AwardChange.UNCHANGED,
        first.allocation_id,
        0,
    )
    assert (await _care(world))["allocated"] == 1 + 57_572


async def test_an_indicative_award_is_shown_then_confirmed_into_the_pot(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners, care_amount=1)
    shown = await _apply(partners, world, amount=30_000, confirmed=False)
    assert (shown.change, shown.moved_amount) == (AwardChange.CREATED, 0)
    assert (await _care(world))["indicative"] == 30_000
    raised = await _apply(partners, world, amount=32_000, confirmed=True)
    assert (raised.change, raised.moved_amount) == (AwardChange.CONFIRMED, 32_000)
    care = await _care(world)
    assert (care["indicative"], care["allocated"]) == (0, 1 + 32_000)


async def test_an_amended_award_tops_up_by_the_difference(partners: PartnerFactory) -> None:
    world = await make_world(partners, care_amount=1)
    await _apply(partners, world, amount=57_572)
    amended = await _apply(partners, world, amount=62_000)
    assert (amended.change, amended.moved_amount, amended.unmet_amount) == (
        AwardChange.ADJUSTED,
        4_428,
        0,
    )
    assert (await _care(world))["allocated"] == 1 + 62_000


async def test_a_withdrawn_award_takes_back_what_is_free_and_the_rest_as_it_frees(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners, care_amount=1)
    await _apply(partners, world, amount=120_000)
    await created(await world.council.post(world.budget_path("/spends"), spend_body(40_000)))
    held = await created(
        await world.council.post(
            world.budget_path("/commitments"), commitment_body(5_000, "personal_care")
        )
    )
    withdrawn = await _apply(partners, world, amount=0)
    assert (withdrawn.change, withdrawn.moved_amount, withdrawn.unmet_amount) == (
        AwardChange.ADJUSTED,
        -75_001,
        44_999,
    )
    # Seen again with nothing freed: nothing moves, the debt is still reported.
    still = await _apply(partners, world, amount=0)
    assert (still.change, still.moved_amount, still.unmet_amount) == (
        AwardChange.UNCHANGED,
        0,
        44_999,
    )
    voided = await world.council.post(f"/v1/commitments/{held['id']}/void")
    assert voided.status_code == 200, voided.text
    freed = await _apply(partners, world, amount=0)
    assert (freed.change, freed.moved_amount, freed.unmet_amount) == (
        AwardChange.ADJUSTED,
        -5_000,
        39_999,
    )
    care = await _care(world)
    assert (care["available"], care["spent"], care["allocated"]) == (0, 40_000, 40_000)


async def test_an_award_withdrawn_before_it_was_ever_seen_adds_nothing(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners, care_amount=1)
    ignored = await _apply(partners, world, amount=0)
    assert (ignored.change, ignored.allocation_id) == (AwardChange.IGNORED, None)
    assert (await _care(world))["allocated"] == 1


async def test_one_reference_in_two_streams_is_two_awards(partners: PartnerFactory) -> None:
    world = await make_world(partners, care_amount=1, dfg_amount=1)
    care = await _apply(partners, world, amount=1_000)
    dfg = await _apply(
        partners, world, amount=2_000, partner=world.housing, stream_id=world.dfg_stream
    )
    assert care.allocation_id != dfg.allocation_id


async def test_an_agency_cannot_apply_an_award_to_another_agencys_stream(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners, care_amount=1)
    with pytest.raises(NotFound):
        await _apply(partners, world, amount=1_000, partner=world.housing)
    assert (await _care(world))["allocated"] == 1
