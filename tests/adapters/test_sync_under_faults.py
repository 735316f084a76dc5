"""Syncs over real HTTP against sandboxes injecting every fault they have: afterwards every
award is in the ledger once, to the penny; every paid spend line reached its agency once;
broken records wait in dead letters and replay once the fault is off."""

from typing import Any

import pytest

from service.domain.vocabulary import Category
from service.syncs.models import DeadLetter
from tests.adapters.checks import (
    assert_ledger_is_the_awards,
    assert_reported_once,
    sync_until_done,
)
from tests.adapters.world import SyncWorld, dead_letters, request_every_replay, spend
from tests.sandboxes import Agency

AMIRA, DANIEL, MARGARET = "RC-100231", "RC-100587", "RC-101142"
STRANGER = "RC-100764"  # Peter Walsh: onebudget has no budget for him

# Every request fault at once; each costs at most a fraction of a second (a 429 waits the
# one second its Retry-After asks for, so it is rarer).
FAULTS = {
    "latency": 0.2,
    "timeout": 0.08,
    "server_error": 0.12,
    "rate_limit": 0.03,
    "drop_connection": 0.08,
    "duplicate": 0.3,
    "out_of_order": 0.4,
    "malformed": 0.25,
}
EXTRA_FAULTS = {"council": {"expired_token": 0.3}}
# What each agency's money pays for, so a spend draws on its stream.
CATEGORY = {
    "council": Category.PERSONAL_CARE,
    "housing": Category.HOUSING_ADAPTATION,
    "employment": Category.EMPLOYMENT_SUPPORT,
    "equipment": Category.ASSISTIVE_TECHNOLOGY,
    "health": Category.HEALTH_THERAPY,
}
# Equipment is issued or not: it makes no indicative awards.
STATUSES = {"equipment": ("confirmed",)}


async def _new_awards(agency: Agency, awards: list[dict[str, Any]]) -> list[str]:
    """Awards the agency makes now; their references."""
    made = await agency.control("POST", "/awards", {"awards": awards})
    return [award["reference"] for award in made["items"]]


@pytest.mark.parametrize("kind", list(CATEGORY))
async def test_every_award_once_and_every_line_reported_once_under_faults(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Any, kind: str
) -> None:
    agency = agencies[kind]
    references = await _new_awards(
        agency,
        [
            {"person_ref": person, "amount": 150_000 + 1_001 * n, "status": status}
            for n, (person, status) in enumerate(
                [
                    (person, status)
                    for person in (AMIRA, DANIEL, MARGARET, STRANGER)
                    for status in STATUSES.get(kind, ("confirmed", "indicative"))
                ]
            )
        ],
    )
    await agency.set_faults(**FAULTS, **EXTRA_FAULTS.get(kind, {}))
    await sync_until_done(world, sync_settings, kind)

    # The agency varies some awards, withdraws others, confirms none by hand: sync again.
    for reference in references[:3]:
        await agency.control("POST", f"/awards/{reference}/amend", {"amount": 210_055})
    await agency.control("POST", f"/awards/{references[3]}/withdraw", {"reason": "moved away"})
    await sync_until_done(world, sync_settings, kind)

    letters = await dead_letters(world, kind)
    broken = [letter for letter in letters if "No budget" not in letter.reason]
    assert broken, "the malformed fault set nothing aside (the rate is too low?)"
    assert all(letter.reason and letter.raw_payload for letter in letters)

    # The faults stop for a while; the dead letters are replayed.
    faults = {**FAULTS, **EXTRA_FAULTS.get(kind, {})}
    await agency.set_faults(**dict.fromkeys(faults, 0.0))
    await request_every_replay(world, kind)
    await sync_until_done(world, sync_settings, kind)
    await assert_ledger_is_the_awards(world, agency, kind)

    # What its money paid for goes back to it, under the faults again.
    await agency.set_faults(**faults)
    for person in (AMIRA, DANIEL, MARGARET):
        for amount in (1_234, 5_678):
            await spend(world, person, CATEGORY[kind], amount)
    await sync_until_done(world, sync_settings, kind)

    await assert_ledger_is_the_awards(world, agency, kind)
    received = await assert_reported_once(world, agency, kind)
    assert len(received) == 6
    after = await dead_letters(world, kind)
    unused = [letter for letter in after if letter.replayed_at is None]
    strangers = {
        award["reference"]
        for award in (await agency.awards()).values()
        if award["person_ref"] not in world.budgets
    }
    assert all(letter.reference in strangers for letter in unused), [
        (letter.reference, letter.reason, letter.replay_outcome) for letter in unused
    ]
    assert all("No budget" in (letter.replay_outcome or "") for letter in unused)


async def test_a_sync_with_nothing_new_changes_nothing(
    world: SyncWorld, agencies: dict[str, Agency], sync_settings: Any
) -> None:
    first = await sync_until_done(world, sync_settings, "council")
    again = await sync_until_done(world, sync_settings, "council")
    assert first[-1].counts.created == 3
    assert again[-1].counts.fetched == 0
    assert await world.count(DeadLetter) == 2  # Peter and Grace: no budget here
