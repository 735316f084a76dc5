"""Mutations: typed refusals, REST's idempotency, and one transaction per mutation."""

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from tests.graphql.client import as_partner
from tests.graphql.documents import ALLOCATE, MONEY, RECORD_SPEND, REFUSAL, spend_input
from tests.partners import PartnerFactory
from tests.world import World, created, make_world, spend_body


async def _spends(world: World) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await world.council.get(world.budget_path("/spends"))).json()[
        "items"
    ]
    return items


async def _totals(world: World) -> dict[str, int]:
    totals: dict[str, int] = (await world.council.get(world.budget_path())).json()["totals"]
    return totals


async def test_a_spend_is_recorded_and_explained(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    answer = await as_partner(
        world.council,
        RECORD_SPEND,
        input=spend_input(world.budget_id, 6_000, "HOUSING_ADAPTATION", payee="Able Ltd"),
        key=str(uuid.uuid4()),
    )
    spend = answer.data["recordSpend"]
    assert spend["__typename"] == "Spend"
    assert (spend["status"], spend["amount"], spend["payee"]) == ("POSTED", 6_000, "Able Ltd")
    [line] = spend["lines"]
    assert line["stream"] == {"id": world.dfg_stream, "name": "Disabled Facilities Grant"}
    assert line["agency"]["id"] == str(world.housing.agency_id)
    assert line["reason"].startswith("Paid £60.00 from Disabled Facilities Grant")
    rest = (await world.council.get(f"/v1/spends/{spend['id']}")).json()
    assert rest["lines"][0]["reason"] == line["reason"]
    assert (await _totals(world))["spent"] == 6_000


async def test_not_enough_money_is_a_typed_result(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    answer = await as_partner(
        world.council,
        RECORD_SPEND,
        input=spend_input(world.budget_id, 900_000),
        key=str(uuid.uuid4()),
    )
    refused = answer.data["recordSpend"]
    assert refused["__typename"] == "InsufficientFunds"
    assert (refused["requestedAmount"], refused["eligibleAmount"]) == (900_000, 500_000)
    by_stream = {s["stream"]["id"]: s for s in refused["streams"]}
    assert by_stream[world.dfg_stream]["reason"].startswith("ring-fenced to housing adaptation")
    assert by_stream[world.care_stream]["available"] == 500_000
    # The same as REST's problem, field for field.
    rest = await world.council.post(world.budget_path("/spends"), spend_body(900_000))
    problem = rest.json()
    assert (problem["requested_amount"], problem["eligible_amount"]) == (900_000, 500_000)
    assert refused["message"] == problem["detail"]
    assert await _spends(world) == []


async def test_other_refusals_carry_rest_slugs(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    outside = await as_partner(
        world.council,
        RECORD_SPEND,
        input=spend_input(world.budget_id, 1_000, occurredOn="2030-01-01"),
        key=str(uuid.uuid4()),
    )
    assert outside.data["recordSpend"]["__typename"] == "Refusal"
    assert outside.data["recordSpend"]["code"] == "outside-period"
    invalid = await as_partner(
        world.council,
        RECORD_SPEND,
        input=spend_input(world.budget_id, -5, description=" "),
        key=str(uuid.uuid4()),
    )
    refusal = invalid.data["recordSpend"]
    assert refusal["code"] == "validation-error"
    assert {f["field"] for f in refusal["fields"]} == {"amount", "description"}
    split = await as_partner(
        world.council,
        RECORD_SPEND,
        input=spend_input(
            world.budget_id, 1_000, split=[{"streamId": world.dfg_stream, "amount": 1_000}]
        ),
        key=str(uuid.uuid4()),
    )
    assert split.data["recordSpend"]["code"] == "invalid-split"
    assert await _spends(world) == []


async def test_a_retry_answers_the_first_result_and_writes_once(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    key = str(uuid.uuid4())
    first = (
        await as_partner(
            world.council, RECORD_SPEND, input=spend_input(world.budget_id, 1_000), key=key
        )
    ).data["recordSpend"]
    reversed_ = await world.council.post(f"/v1/spends/{first['id']}/reverse")
    assert reversed_.status_code == 201
    again = (
        await as_partner(
            world.council, RECORD_SPEND, input=spend_input(world.budget_id, 1_000), key=key
        )
    ).data["recordSpend"]
    assert again == first  # the first result, as it was then (status POSTED), id and all
    assert [s["id"] for s in await _spends(world)] == [first["id"]]


async def test_a_key_reused_for_other_input_or_elsewhere_is_refused(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners)
    key = str(uuid.uuid4())
    first = await as_partner(
        world.council, RECORD_SPEND, input=spend_input(world.budget_id, 1_000), key=key
    )
    assert first.data["recordSpend"]["__typename"] == "Spend"
    other = await as_partner(
        world.council, RECORD_SPEND, input=spend_input(world.budget_id, 2_000), key=key
    )
    assert other.data["recordSpend"]["code"] == "unprocessable"
    # A key first used over REST cannot be replayed through GraphQL, nor the other way.
    rest_key = str(uuid.uuid4())
    assert (
        await world.council.post(world.budget_path("/spends"), spend_body(1_000), key=rest_key)
    ).status_code == 201
    crossed = await as_partner(
        world.council, RECORD_SPEND, input=spend_input(world.budget_id, 1_000), key=rest_key
    )
    assert crossed.data["recordSpend"]["code"] == "unprocessable"
    rest_again = await world.council.post(world.budget_path("/spends"), spend_body(1_000), key=key)
    assert rest_again.status_code == 422
    assert len(await _spends(world)) == 2


async def test_keys_belong_to_their_client(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    second = await partners.another_client(world.council)
    key = str(uuid.uuid4())
    ids = set()
    for caller in (world.council, second):
        answer = await as_partner(
            caller, RECORD_SPEND, input=spend_input(world.budget_id, 1_000), key=key
        )
        ids.add(answer.data["recordSpend"]["id"])
    assert len(ids) == 2
    assert len(await _spends(world)) == 2


async def test_keyed_writes_without_a_hot_path_replay_too(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    spend = await created(await world.council.post(world.budget_path("/spends"), spend_body(1_000)))
    reverse = """mutation($id: ID!, $key: String!) { reverseSpend(id: $id, idempotencyKey: $key) {
        __typename ... on Reversal { id spendId amount } } }"""
    key = str(uuid.uuid4())
    first = (await as_partner(world.council, reverse, id=spend["id"], key=key)).data
    again = (await as_partner(world.council, reverse, id=spend["id"], key=key)).data
    assert first == again
    assert first["reverseSpend"]["spendId"] == spend["id"]
    twice = (await as_partner(world.council, reverse, id=spend["id"], key=str(uuid.uuid4()))).data
    assert twice["reverseSpend"] == {"__typename": "Refusal"}
    assert (await _totals(world))["spent"] == 0


async def _allocation_rows(app: FastAPI, budget_id: str) -> list[tuple[int, str]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT amount, status FROM allocation WHERE budget_id = :b ORDER BY amount"),
            {"b": budget_id},
        )
        return [(amount, status) for amount, status in rows]


async def test_a_refused_mutation_leaves_nothing_behind(partners: PartnerFactory) -> None:
    """Allocating over the stream's cap is refused after the allocation row was written."""
    world = await make_world(partners)
    before = await _allocation_rows(partners.app, world.budget_id)
    over_cap = {
        "budgetId": world.budget_id,
        "streamId": world.dfg_stream,
        "amount": 1_500_000,  # 2,000,000 confirmed already; the cap is 3,000,000
        "status": "CONFIRMED",
    }
    answer = await as_partner(world.housing, ALLOCATE, input=over_cap, key=str(uuid.uuid4()))
    assert answer.data["allocate"]["code"] == "over-cap"
    assert await _allocation_rows(partners.app, world.budget_id) == before
    assert (await _totals(world))["indicative"] == 0


async def test_the_next_mutation_does_not_see_the_refused_ones_half(
    partners: PartnerFactory,
) -> None:
    world = await make_world(partners)
    document = f"""mutation($over: AllocateInput!, $small: AllocateInput!) {{
      refused: allocate(input: $over, idempotencyKey: "{uuid.uuid4()}") {{
        __typename {REFUSAL} }}
      kept: allocate(input: $small, idempotencyKey: "{uuid.uuid4()}") {{
        __typename ... on Allocation {{ amount budget {{ totals {{ {MONEY} }} }} }} }}
    }}"""
    stream = {"budgetId": world.budget_id, "streamId": world.dfg_stream}
    answer = await as_partner(
        world.housing,
        document,
        over={**stream, "amount": 1_500_000, "status": "CONFIRMED"},
        small={**stream, "amount": 1_000, "status": "INDICATIVE"},
    )
    assert answer.data["refused"]["code"] == "over-cap"
    kept = answer.data["kept"]
    assert kept["amount"] == 1_000
    assert kept["budget"]["totals"]["indicative"] == 1_000  # not 1,501,000: no half-state
    assert await _allocation_rows(partners.app, world.budget_id) == [
        (1_000, "indicative"),
        (500_000, "confirmed"),
        (2_000_000, "confirmed"),
    ]


async def test_each_mutation_commits_its_own_success(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    document = """mutation($ok: RecordSpendInput!, $no: RecordSpendInput!) {
      ok: recordSpend(input: $ok, idempotencyKey: "k-ok") { __typename }
      no: recordSpend(input: $no, idempotencyKey: "k-no") { __typename }
    }"""
    answer = await as_partner(
        world.council,
        document,
        ok=spend_input(world.budget_id, 1_000),
        no=spend_input(world.budget_id, 1_000, occurredOn="2030-01-01"),
    )
    assert answer.data == {"ok": {"__typename": "Spend"}, "no": {"__typename": "Refusal"}}
    assert [s["amount"] for s in await _spends(world)] == [1_000]
