"""GET /v1/agencies/{id}/syncs and GET /v1/dead-letters show an agency its own, newest first;
POST /v1/dead-letters/{id}/replay asks its next sync to replay one."""

import pytest

from tests.partners import PartnerFactory
from tests.world import make_dead_letter, make_sync_run, make_world


async def test_an_agency_sees_its_own_syncs_and_dead_letters(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    letter = await make_dead_letter(partners.app, world)
    await make_sync_run(partners.app, world, fetched=5, created=3, dead_lettered=2)

    syncs = await world.council.get(f"/v1/agencies/{world.council.agency_id}/syncs")
    assert syncs.status_code == 200, syncs.text
    [run] = syncs.json()["items"]
    assert (run["fetched"], run["created"], run["dead_lettered"], run["status"]) == (
        5,
        3,
        2,
        "succeeded",
    )
    letters = (await world.council.get("/v1/dead-letters")).json()["items"]
    assert [item["id"] for item in letters] == [letter]
    assert letters[0]["reason"] and letters[0]["raw_payload"].startswith("{")

    # Another agency sees none of it: not its syncs (404), not its dead letters.
    other = await world.housing.get(f"/v1/agencies/{world.council.agency_id}/syncs")
    assert other.status_code == 404
    assert (await world.housing.get("/v1/dead-letters")).json()["items"] == []
    own = await world.housing.get(f"/v1/agencies/{world.housing.agency_id}/syncs")
    assert own.json() == {"items": [], "next_cursor": None}


async def test_a_replay_is_asked_for_once(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    letter = await make_dead_letter(partners.app, world)
    first = await world.council.post(f"/v1/dead-letters/{letter}/replay")
    assert first.status_code == 200, first.text
    asked = first.json()["replay_requested_at"]
    assert asked is not None and first.json()["replayed_at"] is None
    again = await world.council.post(f"/v1/dead-letters/{letter}/replay")
    assert again.json()["replay_requested_at"] == asked
    refused = await world.housing.post(f"/v1/dead-letters/{letter}/replay")
    assert refused.status_code == 404


@pytest.mark.parametrize("path", ["/v1/dead-letters", "/v1/agencies/{agency}/syncs"])
async def test_reading_syncs_needs_the_scope(partners: PartnerFactory, path: str) -> None:
    world = await make_world(partners)
    narrow = await partners.narrowed(world.council, scope="budgets:read")
    answer = await narrow.get(path.format(agency=world.council.agency_id))
    assert answer.status_code == 403
    assert answer.json()["required_scope"] == "syncs:read"
