"""Reads: the whole budget in one query, the same numbers as REST; connections; node."""

import uuid
from typing import Any

from tests.graphql.client import as_partner
from tests.graphql.documents import BUDGET, MONEY
from tests.partners import PartnerFactory
from tests.world import World, commitment_body, created, make_world, spend_body

MONEY_FIELDS = MONEY.split()


async def _history(world: World) -> None:
    """Spends, a commitment, and a spend awaiting the housing authority's approval."""
    council = world.council
    for amount in (1_000, 2_000, 3_000):
        await created(await council.post(world.budget_path("/spends"), spend_body(amount)))
    await created(await council.post(world.budget_path("/commitments"), commitment_body(4_000)))
    await created(
        await council.post(world.budget_path("/spends"), spend_body(60_000, "housing_adaptation"))
    )


def _money(entry: dict[str, Any]) -> dict[str, int]:
    return {name: entry[name] for name in MONEY_FIELDS}


async def test_the_whole_budget_matches_rest(partners: PartnerFactory) -> None:
    world = await make_world(partners, dfg_threshold=50_000)
    await _history(world)
    rest = (await world.council.get(world.budget_path())).json()
    rest_spends = (await world.council.get(world.budget_path("/spends"))).json()["items"]
    rest_commitments = (await world.council.get(world.budget_path("/commitments"))).json()
    rest_transfers = (await world.council.get(world.budget_path("/transfers"))).json()["items"]
    budget = (await as_partner(world.council, BUDGET, id=world.budget_id)).data["budget"]

    assert budget["id"] == rest["id"]
    assert budget["person"]["id"] == rest["person_id"] == world.person_id
    assert budget["leadAgency"]["id"] == rest["lead_agency_id"]
    assert budget["deployment"] == rest["deployment"].upper()
    assert _money(budget["totals"]) == _money(rest["totals"])
    assert [(s["stream"]["id"], _money(s)) for s in budget["streams"]] == [
        (s["stream_id"], _money(s)) for s in rest["streams"]
    ]
    assert [s["stream"]["agency"]["id"] for s in budget["streams"]] == [
        s["agency_id"] for s in rest["streams"]
    ]
    spends = [edge["node"] for edge in budget["spends"]["edges"]]
    assert [(s["id"], s["amount"], s["status"].lower()) for s in spends] == [
        (s["id"], s["amount"], s["status"]) for s in rest_spends
    ]
    assert [
        [
            (line["stream"]["id"], line["amount"], line["reason"], line["approval"].lower())
            for line in s["lines"]
        ]
        for s in spends
    ] == [
        [
            (line["stream_id"], line["amount"], line["reason"], line["approval"])
            for line in s["lines"]
        ]
        for s in rest_spends
    ]
    commitments = [edge["node"] for edge in budget["commitments"]["edges"]]
    assert [c["id"] for c in commitments] == [c["id"] for c in rest_commitments["items"]]
    transfers = [edge["node"] for edge in budget["transfers"]["edges"]]
    assert [(t["id"], t["amount"], t["kind"].lower()) for t in transfers] == [
        (t["id"], t["amount"], t["kind"]) for t in rest_transfers
    ]
    awaiting = budget["awaitingApproval"]
    assert [(a["__typename"], a["id"]) for a in awaiting] == [
        ("Spend", s["id"]) for s in reversed(rest_spends) if s["status"] == "pending_approval"
    ]
    assert _money(budget["statement"]["totals"]) == _money(rest["totals"])
    assert sorted(a["amount"] for a in budget["allocations"]) == [500_000, 2_000_000]


async def test_pages_follow_cursors_and_agree_with_rest(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    for amount in range(1_000, 6_000, 1_000):
        await created(await world.council.post(world.budget_path("/spends"), spend_body(amount)))
    query = """query($id: ID!, $after: String) { budget(id: $id) {
        spends(first: 2, after: $after) { edges { cursor node { id } }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await as_partner(world.council, query, id=world.budget_id, after=after)).data
        spends = page["budget"]["spends"]
        seen += [edge["node"]["id"] for edge in spends["edges"]]
        assert spends["pageInfo"]["hasPreviousPage"] is (after is not None)
        pages += 1
        if not spends["pageInfo"]["hasNextPage"]:
            break
        # Cursors are sealed afresh each time, so the strings differ; the positions do not.
        # The last edge's cursor, the endCursor and REST's cursor all read on from one place.
        after = spends["pageInfo"]["endCursor"]
        last_edge = spends["edges"][-1]["cursor"]
        by_edge = await as_partner(world.council, query, id=world.budget_id, after=last_edge)
        by_rest = await world.council.get(
            world.budget_path("/spends"), params={"limit": 2, "cursor": after}
        )
        following = [edge["node"]["id"] for edge in by_edge.data["budget"]["spends"]["edges"]]
        assert following == [s["id"] for s in by_rest.json()["items"]]
    rest_all = (await world.council.get(world.budget_path("/spends"))).json()["items"]
    assert seen == [s["id"] for s in rest_all]
    assert pages == 3


async def test_a_bad_cursor_or_page_size_is_bad_user_input(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    query = """query($id: ID!, $after: String, $first: Int!) { budget(id: $id) {
        id spends(first: $first, after: $after) { edges { cursor } } } }"""
    bad_cursor = await as_partner(world.council, query, id=world.budget_id, after="nope", first=5)
    assert bad_cursor.codes == ["BAD_USER_INPUT"]
    assert bad_cursor.errors[0]["extensions"]["type"] == "bad-cursor"
    assert bad_cursor.body["data"]["budget"]["id"] == world.budget_id  # only the list failed
    too_many = await as_partner(world.council, query, id=world.budget_id, first=501)
    assert too_many.codes == ["BAD_USER_INPUT"]


async def test_the_caseload_filters(partners: PartnerFactory) -> None:
    world = await make_world(partners, dfg_threshold=50_000)
    other = await created(
        await world.council.post(
            "/v1/budgets",
            {
                "person_id": world.person_id,
                "starts_on": "2027-04-01",
                "ends_on": "2028-03-31",
                "currency": "GBP",
                "deployment": "managed",
            },
        )
    )
    query = """query($filter: BudgetFilterInput) { budgets(first: 10, filter: $filter) {
        edges { node { id } } } }"""

    async def listed(**filter: Any) -> list[str]:
        data = (await as_partner(world.council, query, filter=filter)).data
        return sorted(edge["node"]["id"] for edge in data["budgets"]["edges"])

    both = sorted([world.budget_id, other["id"]])
    assert await listed() == both
    assert await listed(activeOn="2026-06-01") == [world.budget_id]
    assert await listed(activeOn="2027-06-01") == [other["id"]]
    assert await listed(availableBelow=1) == [other["id"]]  # nothing allocated to it
    assert await listed(availableBelow=2_500_001) == both
    assert await listed(availableBelow=2_500_000) == [other["id"]]
    assert await listed(awaitingApproval=True) == []
    await created(
        await world.council.post(
            world.budget_path("/spends"), spend_body(60_000, "housing_adaptation")
        )
    )
    assert await listed(awaitingApproval=True) == [world.budget_id]
    assert await listed(awaitingApproval=False) == [other["id"]]


async def test_people_and_streams(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    query = """{ people(first: 5) { edges { node { id name budgets { edges { node { id } } } } } }
        streams { id name kind rules { categories unspent capAmount approvalThresholdAmount } } }"""
    council = (await as_partner(world.council, query)).data
    person = council["people"]["edges"][0]["node"]
    assert person["id"] == world.person_id
    assert [edge["node"]["id"] for edge in person["budgets"]["edges"]] == [world.budget_id]
    assert [s["id"] for s in council["streams"]] == [world.care_stream]
    housing = (await as_partner(world.housing, query)).data
    assert [s["id"] for s in housing["streams"]] == [world.dfg_stream]
    assert housing["streams"][0]["rules"] == {
        "categories": ["HOUSING_ADAPTATION"],
        "unspent": "RETURN",
        "capAmount": 3_000_000,
        "approvalThresholdAmount": None,
    }


async def test_node_finds_any_object_by_its_rest_id(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    spend = await created(await world.council.post(world.budget_path("/spends"), spend_body(1_000)))
    held = await created(
        await world.council.post(world.budget_path("/commitments"), commitment_body(1_000))
    )
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    expected = {
        world.budget_id: "Budget",
        world.person_id: "Person",
        spend["id"]: "Spend",
        held["id"]: "Commitment",
        world.care_stream: "Stream",
        str(world.council.agency_id): "Agency",
    }
    for object_id, typename in expected.items():
        node = (await as_partner(world.council, query, id=object_id)).data["node"]
        assert node == {"__typename": typename, "id": object_id}
    # Another agency's stream, an id of nothing, and not an id at all: the same NOT_FOUND.
    answers = [
        await as_partner(world.council, query, id=object_id)
        for object_id in (world.dfg_stream, str(uuid.uuid4()), "not-an-id")
    ]
    assert [a.codes for a in answers] == [["NOT_FOUND"]] * 3
    assert [a.body["data"]["node"] for a in answers] == [None] * 3
    messages = {a.errors[0]["message"].replace(str(world.dfg_stream), "X") for a in answers[:1]}
    assert messages == {"No object X is within your reach."}
