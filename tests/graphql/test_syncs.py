"""An agency's own syncs over GraphQL, where a front-end looks (its Agency): the last run's
figures after a real sync against the council sandbox, as REST has them; its dead letters
with reason and payload, page by page; a replay asked for; none of it for another agency."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from adapters.sync import SyncOutcome, sync_agency
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.syncs.queue import SYNC_AGENCY
from service.syncs.runs import Counts
from tests.adapters.world import SyncWorld, build_world
from tests.graphql.client import as_partner
from tests.partners import Partner, PartnerFactory
from tests.sandboxes import Agency, serve

RUN = (
    "id status fetched created unchanged adjusted confirmed deadLettered replayed pushed"
    " pushRejected error startedAt finishedAt"
)
LETTER = (
    "id reference version reason rawPayload createdAt syncRunId replayRequestedAt replayedAt"
    " replayOutcome"
)
MINE = f"""query($after: String) {{ viewer {{ agency {{ id name
    lastSync {{ {RUN} }}
    deadLetters(first: 1, after: $after) {{
      edges {{ node {{ {LETTER} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }} }}"""
THEIRS = """query($id: ID!) { budget(id: $id) { leadAgency { name
    lastSync { id } deadLetters { edges { node { id } } } } } }"""
REPLAY = f"""mutation($id: ID!) {{ replayDeadLetter(id: $id) {{
    __typename ... on DeadLetter {{ {LETTER} }} }} }}"""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _as_rest(node: dict[str, Any], rest: dict[str, Any]) -> None:
    """A GraphQL object says what REST's item says, field for field (enums upper-cased,
    times as the same instants, a version as its digits)."""
    for name, value in rest.items():
        got = node[_camel(name)]
        if name == "status":
            assert got == value.upper(), name
        elif name.endswith("_at") and value is not None:
            assert datetime.fromisoformat(got) == datetime.fromisoformat(value), name
        elif name == "version" and value is not None:
            assert got == str(value), name
        else:
            assert got == value, name


@dataclass
class Synced:
    """The sync tests' world, its council's sandbox, and the council's first sync."""

    world: SyncWorld
    sandbox: Agency
    settings: Settings
    first: SyncOutcome | None = None

    async def sync(self) -> SyncOutcome:
        """The council synced (again)."""
        agency_id = self.world.agencies["council"]
        return await sync_agency(self.world.sessionmaker, self.settings, agency_id=agency_id)


@pytest.fixture
async def synced(
    app: FastAPI, database_url: str, settings: Settings, tmp_path: Path
) -> AsyncIterator[Synced]:
    """The sync tests' world in this test's database, the council connected to a sandbox of
    its own (seeded: three awards onebudget can use, two it cannot), synced once."""
    engine = make_engine(database_url, pool_size=3)
    try:
        async with serve("council") as council:
            world = await build_world(
                make_sessionmaker(engine), {"council": council.sandbox}, tmp_path
            )
            synced = Synced(world, council, settings)
            synced.first = first = await synced.sync()
            assert first.status == "succeeded", first.error
            yield synced
    finally:
        await engine.dispose()


async def _partner(partners: PartnerFactory, world: SyncWorld, kind: str) -> Partner:
    return await partners.of_agency(world.agencies[kind])


async def test_the_last_sync_and_the_dead_letters_are_the_agencys_own(
    partners: PartnerFactory, synced: Synced
) -> None:
    world = synced.world
    council = await _partner(partners, world, "council")
    after_one = (await as_partner(council, MINE)).data["viewer"]["agency"]["lastSync"]
    assert synced.first is not None and after_one["id"] == str(synced.first.run_id)
    assert (after_one["created"], after_one["deadLettered"]) == (3, 2)
    award = {"person_ref": "RC-100587", "amount": 12_345, "status": "indicative"}
    await synced.sandbox.control("POST", "/awards", {"awards": [award]})
    outcome = await synced.sync()
    first = (await as_partner(council, MINE)).data["viewer"]["agency"]

    # The latest run's figures, as the sync counted them and as REST shows them.
    run = first["lastSync"]
    assert run["id"] == str(outcome.run_id) and run["status"] == "SUCCEEDED"
    figures = ("fetched", "created", "unchanged", "adjusted", "deadLettered", "pushed")
    assert {name: run[name] for name in figures} == {
        "fetched": 1,
        "created": 1,
        "unchanged": 0,
        "adjusted": 0,
        "deadLettered": 0,
        "pushed": 0,
    }
    assert outcome.counts == Counts(fetched=1, created=1)
    syncs = await council.get(f"/v1/agencies/{world.agencies['council']}/syncs")
    newest, oldest = syncs.json()["items"]
    _as_rest(run, newest)
    _as_rest(after_one, oldest)

    # The dead letters, one page at a time, newest first, each as REST has it.
    rest_letters = (await council.get("/v1/dead-letters")).json()["items"]
    assert len(rest_letters) == 2
    page = first["deadLetters"]
    assert page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    second = (await as_partner(council, MINE, after=after)).data["viewer"]["agency"]
    assert second["deadLetters"]["pageInfo"]["hasNextPage"] is False
    letters = [edge["node"] for part in (page, second["deadLetters"]) for edge in part["edges"]]
    for letter, rest_letter in zip(letters, rest_letters, strict=True):
        _as_rest(letter, rest_letter)
        assert letter["reason"] and letter["rawPayload"]
        assert letter["syncRunId"] == after_one["id"] and letter["replayRequestedAt"] is None

    # Another agency, which funds every budget the council leads, sees the council's name
    # but neither its syncs nor its dead letters: NOT_FOUND, as REST's 404.
    housing = await _partner(partners, world, "housing")
    budget_id = str(next(iter(world.budgets.values())))
    theirs = await as_partner(housing, THEIRS, id=budget_id)
    assert theirs.body["data"]["budget"]["leadAgency"] == {
        "name": first["name"],
        "lastSync": None,
        "deadLetters": None,
    }
    assert theirs.codes == ["NOT_FOUND", "NOT_FOUND"]
    assert all(error["extensions"]["type"] == "not-found" for error in theirs.errors)
    assert all(first["id"] in error["message"] for error in theirs.errors)
    # Its own agency never synced: no run, no dead letter, and no error.
    own = (await as_partner(housing, MINE)).data["viewer"]["agency"]
    assert own["lastSync"] is None and own["deadLetters"]["edges"] == []


async def test_reading_syncs_needs_syncs_read(partners: PartnerFactory, synced: Synced) -> None:
    world = synced.world
    council = await _partner(partners, world, "council")
    narrow = await partners.narrowed(council, scope="budgets:read")
    answer = await as_partner(narrow, MINE)
    assert answer.codes == ["FORBIDDEN", "FORBIDDEN"]
    assert {error["extensions"]["requiredScope"] for error in answer.errors} == {"syncs:read"}
    assert answer.body["data"]["viewer"]["agency"]["name"]  # the directory needs no scope


async def test_a_replay_asked_for_queues_the_agencys_sync(
    partners: PartnerFactory, synced: Synced, app: FastAPI
) -> None:
    world = synced.world
    council = await _partner(partners, world, "council")
    letters = (await council.get("/v1/dead-letters")).json()["items"]
    asked = await as_partner(council, REPLAY, id=letters[0]["id"])
    letter = asked.data["replayDeadLetter"]
    assert letter["__typename"] == "DeadLetter" and letter["replayRequestedAt"] is not None
    again = (await as_partner(council, REPLAY, id=letters[0]["id"])).data["replayDeadLetter"]
    assert again["replayRequestedAt"] == letter["replayRequestedAt"]  # asked once
    _as_rest(letter, (await council.get("/v1/dead-letters")).json()["items"][0])
    async with app.state.sessionmaker() as session:
        queued = await session.scalar(
            text("SELECT count(*) FROM pgqueuer WHERE entrypoint = :kind"), {"kind": SYNC_AGENCY}
        )
    assert queued == 1
