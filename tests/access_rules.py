"""Who may read and write what, as one table both APIs are tried against.

The table is the one in docs/access.md. Each rule names the REST route it writes through
and, where GraphQL has the write, the mutation that makes the same write, with what the
lead, a funder and an outsider get: OK, NO (403 forbidden-role or not-awaiting-you;
GraphQL: FORBIDDEN) or HIDDEN (404; GraphQL: NOT_FOUND). tests/api/test_access.py runs the
REST side, tests/graphql/test_reach.py the GraphQL side, so the two cannot drift.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.graphql.client import Answer, as_partner
from tests.partners import Partner
from tests.world import (
    World,
    commitment_body,
    created,
    make_dead_letter,
    make_stream,
    make_sync_run,
    spend_body,
)


@dataclass
class Cast:
    """The world plus an agency with no part in the budget."""

    world: World
    outsider: Partner

    def by(self, role: str) -> Partner:
        """The partner playing `role`."""
        return {
            "lead": self.world.council,
            "funder": self.world.housing,
            "outsider": self.outsider,
        }[role]


async def _patch(cast: Cast, caller: Partner, path: str, body: dict[str, Any]) -> httpx.Response:
    """PATCH with If-Match taken from the lead's own read, so only the role decides."""
    etag = (await cast.world.council.get(path)).headers.get("etag", '"x"')
    return await caller.patch(path, body, headers={"If-Match": etag})


async def _spend(cast: Cast) -> str:
    body = spend_body(1_000)
    return str(
        (await created(await cast.world.council.post(cast.world.budget_path("/spends"), body)))[
            "id"
        ]
    )


async def _commitment(cast: Cast) -> str:
    path = cast.world.budget_path("/commitments")
    return str((await created(await cast.world.council.post(path, commitment_body(1_000))))["id"])


async def _awaiting_funder(cast: Cast) -> str:
    """A spend whose housing (funder) line awaits housing's approval."""
    w = cast.world
    path = f"/v1/streams/{w.dfg_stream}"
    etag = (await w.housing.get(path)).headers["etag"]
    changed = await w.housing.patch(
        path, {"approval_threshold_amount": 100}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    body = spend_body(5_000, "housing_adaptation")
    spend = await created(await w.council.post(w.budget_path("/spends"), body))
    assert spend["status"] == "pending_approval"
    return str(spend["id"])


async def _awaiting_funder_commitment(cast: Cast) -> str:
    """A commitment whose housing (funder) line awaits housing's approval."""
    await _awaiting_funder(cast)  # sets housing's threshold on the way
    body = commitment_body(5_000, "housing_adaptation")
    path = cast.world.budget_path("/commitments")
    commitment = await created(await cast.world.council.post(path, body))
    assert commitment["status"] == "pending_approval"
    return str(commitment["id"])


async def _nothing(cast: Cast) -> str:
    return ""


def _app(cast: Cast) -> FastAPI:
    """The app, reached through the partners' test client."""
    transport = cast.world.council.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: FastAPI = transport.app  # type: ignore[assignment]
    return app


async def _council_dead_letter(cast: Cast) -> str:
    """A dead letter of the council's own system."""
    return await make_dead_letter(_app(cast), cast.world)


async def _council_sync(cast: Cast) -> str:
    """A finished sync of the council's own system."""
    return await make_sync_run(_app(cast), cast.world, fetched=1, created=1)


async def replay_dead_letter(cast: Cast, caller: Partner, letter_id: str) -> httpx.Response:
    return await caller.post(f"/v1/dead-letters/{letter_id}/replay")


async def _indicative_care(cast: Cast) -> str:
    body = {"stream_id": cast.world.care_stream, "amount": 1_000, "status": "indicative"}
    path = cast.world.budget_path("/allocations")
    return str((await created(await cast.world.council.post(path, body)))["id"])


async def _own_stream(cast: Cast) -> str:
    """A stream for each of the three agencies, so each allocates only its own money."""
    return ",".join([await make_stream(cast.by(role), name=f"{role} top-up") for role in ROLES])


ROLES = ("lead", "funder", "outsider")


def _own(cast: Cast, caller: Partner, streams: str) -> str:
    role = next(role for role in ROLES if cast.by(role).agency_id == caller.agency_id)
    return streams.split(",")[ROLES.index(role)]


Act = Callable[[Cast, Partner, str], Awaitable[httpx.Response]]
Setup = Callable[[Cast], Awaitable[str]]


async def open_stream(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(
        "/v1/streams", {"name": "Respite fund", "kind": "social_care", "unspent": "return"}
    )


async def edit_stream(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, f"/v1/streams/{cast.world.care_stream}", {"name": "Care"})


async def register_person(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {"reference": "P-NEW", "name": "Jo", "date_of_birth": "1975-03-04"}
    return await caller.post("/v1/people", body)


async def open_budget(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {
        "person_id": cast.world.person_id,
        "starts_on": "2027-04-01",
        "ends_on": "2028-03-31",
        "currency": "GBP",
        "deployment": "managed",
    }
    return await caller.post("/v1/budgets", body)


async def edit_person(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, f"/v1/people/{cast.world.person_id}", {"name": "Renamed"})


async def edit_budget(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await _patch(cast, caller, cast.world.budget_path(), {"deployment": "mixed"})


async def add_funder(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    body = {"agency_id": str(cast.outsider.agency_id)}
    return await caller.post(cast.world.budget_path("/funders"), body)


async def allocate(cast: Cast, caller: Partner, streams: str) -> httpx.Response:
    body = {"stream_id": _own(cast, caller, streams), "amount": 1_000, "status": "confirmed"}
    return await caller.post(cast.world.budget_path("/allocations"), body)


async def confirm(cast: Cast, caller: Partner, allocation_id: str) -> httpx.Response:
    return await caller.post(f"/v1/allocations/{allocation_id}/confirm")


async def adjust(cast: Cast, caller: Partner, allocation_id: str) -> httpx.Response:
    body = {"amount": 2_000, "reason": "Award amended"}
    return await caller.post(f"/v1/allocations/{allocation_id}/adjustments", body)


async def spend(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(cast.world.budget_path("/spends"), spend_body(1_000))


async def spend_by_split(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    split = [{"stream_id": cast.world.care_stream, "amount": 1_000}]
    return await caller.post(cast.world.budget_path("/spends"), spend_body(1_000, split=split))


async def reverse(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/reverse")


async def commit(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(cast.world.budget_path("/commitments"), commitment_body(1_000))


async def post_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/post")


async def void_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/void")


async def approve(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/approve")


async def reject(cast: Cast, caller: Partner, spend_id: str) -> httpx.Response:
    return await caller.post(f"/v1/spends/{spend_id}/reject")


async def approve_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/approve")


async def reject_held(cast: Cast, caller: Partner, commitment_id: str) -> httpx.Response:
    return await caller.post(f"/v1/commitments/{commitment_id}/reject")


GraphQLAct = Callable[[Cast, Partner, str], Awaitable[Answer]]
GraphQLRead = Callable[[Cast, Partner, str], Awaitable[Answer]]


def _key() -> str:
    return str(uuid.uuid4())


async def _mutate(caller: Partner, field: str, arguments: str, **variables: Any) -> Answer:
    """One mutation `field(arguments)`, asking only for the result's type."""
    declared = ", ".join(f"${name}: {kind}" for name, (kind, _) in variables.items())
    values = {name: value for name, (_, value) in variables.items()}
    document = f"mutation({declared}) {{ {field}({arguments}) {{ __typename }} }}"
    return await as_partner(caller, document, **values)


def _budget_input(cast: Cast) -> dict[str, Any]:
    return {
        "personId": cast.world.person_id,
        "startsOn": "2027-04-01",
        "endsOn": "2028-03-31",
        "currency": "GBP",
        "deployment": "MANAGED",
    }


def _spend_input(cast: Cast, **extra: Any) -> dict[str, Any]:
    return {
        "budgetId": cast.world.budget_id,
        "amount": 1_000,
        "category": "PERSONAL_CARE",
        "description": "Support",
        "occurredOn": "2026-06-01",
        **extra,
    }


async def gql_register_person(cast: Cast, caller: Partner, _: str) -> Answer:
    person = {"reference": "P-NEW", "name": "Jo", "dateOfBirth": "1975-03-04"}
    return await _mutate(
        caller, "createPerson", "input: $input", input=("CreatePersonInput!", person)
    )


async def gql_open_budget(cast: Cast, caller: Partner, _: str) -> Answer:
    return await _mutate(
        caller, "createBudget", "input: $input", input=("CreateBudgetInput!", _budget_input(cast))
    )


async def gql_add_funder(cast: Cast, caller: Partner, _: str) -> Answer:
    return await _mutate(
        caller,
        "addFunder",
        "budgetId: $budget, agencyId: $agency",
        budget=("ID!", cast.world.budget_id),
        agency=("ID!", str(cast.outsider.agency_id)),
    )


async def gql_allocate(cast: Cast, caller: Partner, streams: str) -> Answer:
    allocation = {
        "budgetId": cast.world.budget_id,
        "streamId": _own(cast, caller, streams),
        "amount": 1_000,
        "status": "CONFIRMED",
    }
    return await _mutate(
        caller,
        "allocate",
        "input: $input, idempotencyKey: $key",
        input=("AllocateInput!", allocation),
        key=("String!", _key()),
    )


def _on(field: str) -> GraphQLAct:
    """A mutation on the set-up object: field(id: ..., idempotencyKey: ...)."""

    async def act(cast: Cast, caller: Partner, object_id: str) -> Answer:
        return await _mutate(
            caller,
            field,
            "id: $id, idempotencyKey: $key",
            id=("ID!", object_id),
            key=("String!", _key()),
        )

    return act


async def gql_spend(cast: Cast, caller: Partner, _: str) -> Answer:
    return await _mutate(
        caller,
        "recordSpend",
        "input: $input, idempotencyKey: $key",
        input=("RecordSpendInput!", _spend_input(cast)),
        key=("String!", _key()),
    )


async def gql_spend_by_split(cast: Cast, caller: Partner, _: str) -> Answer:
    split = [{"streamId": cast.world.care_stream, "amount": 1_000}]
    return await _mutate(
        caller,
        "recordSpend",
        "input: $input, idempotencyKey: $key",
        input=("RecordSpendInput!", _spend_input(cast, split=split)),
        key=("String!", _key()),
    )


async def gql_commit(cast: Cast, caller: Partner, _: str) -> Answer:
    held = {
        "budgetId": cast.world.budget_id,
        "amount": 1_000,
        "category": "RESPITE",
        "description": "Booked support",
        "expiresAt": "2030-01-01T00:00:00Z",
    }
    return await _mutate(
        caller,
        "makeCommitment",
        "input: $input, idempotencyKey: $key",
        input=("MakeCommitmentInput!", held),
        key=("String!", _key()),
    )


HOOKS = "/v1/webhook-endpoints"


async def _lead_hook(cast: Cast) -> str:
    """A webhook endpoint of the lead (the council)."""
    body = {"url": "http://127.0.0.1:9/hooks"}
    return str((await created(await cast.world.council.post(HOOKS, body)))["id"])


async def register_hook(cast: Cast, caller: Partner, _: str) -> httpx.Response:
    return await caller.post(HOOKS, {"url": "http://127.0.0.1:9/hooks"})


async def delete_hook(cast: Cast, caller: Partner, endpoint_id: str) -> httpx.Response:
    return await caller.delete(f"{HOOKS}/{endpoint_id}")


OK, NO, HIDDEN = "ok", "forbidden", "hidden"


@dataclass(frozen=True)
class Rule:
    """One write: its REST route, the lead's set-up, the write in each API, and outcomes."""

    route: str
    setup: Setup
    rest: Act
    graphql: GraphQLAct | None  # None: GraphQL has no such write (yet)
    lead: str
    funder: str
    outsider: str

    def outcome(self, role: str) -> str:
        """What `role` gets."""
        outcome: str = getattr(self, role)
        return outcome


RULES: dict[str, Rule] = {
    "open a stream": Rule("POST /v1/streams", _nothing, open_stream, None, OK, OK, OK),
    "edit the lead's stream": Rule(
        "PATCH /v1/streams/{stream_id}", _nothing, edit_stream, None, OK, HIDDEN, HIDDEN
    ),
    "register a person": Rule(
        "POST /v1/people", _nothing, register_person, gql_register_person, OK, OK, OK
    ),
    "open a budget for the person": Rule(
        "POST /v1/budgets", _nothing, open_budget, gql_open_budget, OK, NO, HIDDEN
    ),
    "edit the person": Rule(
        "PATCH /v1/people/{person_id}", _nothing, edit_person, None, OK, NO, HIDDEN
    ),
    "edit the budget": Rule(
        "PATCH /v1/budgets/{budget_id}", _nothing, edit_budget, None, OK, NO, HIDDEN
    ),
    "bring a funder in": Rule(
        "POST /v1/budgets/{budget_id}/funders",
        _nothing,
        add_funder,
        gql_add_funder,
        OK,
        NO,
        HIDDEN,
    ),
    "allocate from its own stream": Rule(
        "POST /v1/budgets/{budget_id}/allocations",
        _own_stream,
        allocate,
        gql_allocate,
        OK,
        OK,
        HIDDEN,
    ),
    "confirm the lead's allocation": Rule(
        "POST /v1/allocations/{allocation_id}/confirm",
        _indicative_care,
        confirm,
        _on("confirmAllocation"),
        OK,
        NO,
        HIDDEN,
    ),
    "adjust the lead's allocation": Rule(
        "POST /v1/allocations/{allocation_id}/adjustments",
        _indicative_care,
        adjust,
        None,
        OK,
        NO,
        HIDDEN,
    ),
    "record a spend": Rule(
        "POST /v1/budgets/{budget_id}/spends", _nothing, spend, gql_spend, OK, NO, HIDDEN
    ),
    "spend another's stream by a split": Rule(
        "POST /v1/budgets/{budget_id}/spends",
        _nothing,
        spend_by_split,
        gql_spend_by_split,
        OK,
        NO,
        HIDDEN,
    ),
    "reverse a spend": Rule(
        "POST /v1/spends/{spend_id}/reverse",
        _spend,
        reverse,
        _on("reverseSpend"),
        OK,
        NO,
        HIDDEN,
    ),
    "hold money": Rule(
        "POST /v1/budgets/{budget_id}/commitments", _nothing, commit, gql_commit, OK, NO, HIDDEN
    ),
    "post a commitment": Rule(
        "POST /v1/commitments/{commitment_id}/post",
        _commitment,
        post_held,
        _on("postCommitment"),
        OK,
        NO,
        HIDDEN,
    ),
    "void a commitment": Rule(
        "POST /v1/commitments/{commitment_id}/void",
        _commitment,
        void_held,
        _on("voidCommitment"),
        OK,
        NO,
        HIDDEN,
    ),
    "approve the funder's line": Rule(
        "POST /v1/spends/{spend_id}/approve",
        _awaiting_funder,
        approve,
        _on("approveSpend"),
        NO,
        OK,
        HIDDEN,
    ),
    "reject the funder's line": Rule(
        "POST /v1/spends/{spend_id}/reject",
        _awaiting_funder,
        reject,
        _on("rejectSpend"),
        NO,
        OK,
        HIDDEN,
    ),
    "approve the funder's held money": Rule(
        "POST /v1/commitments/{commitment_id}/approve",
        _awaiting_funder_commitment,
        approve_held,
        _on("approveCommitment"),
        NO,
        OK,
        HIDDEN,
    ),
    "reject the funder's held money": Rule(
        "POST /v1/commitments/{commitment_id}/reject",
        _awaiting_funder_commitment,
        reject_held,
        _on("rejectCommitment"),
        NO,
        OK,
        HIDDEN,
    ),
    "replay its own system's dead letter": Rule(
        "POST /v1/dead-letters/{dead_letter_id}/replay",
        _council_dead_letter,
        replay_dead_letter,
        _on("replayDeadLetter"),
        OK,
        HIDDEN,
        HIDDEN,
    ),
    "register a webhook endpoint": Rule(f"POST {HOOKS}", _nothing, register_hook, None, OK, OK, OK),
    "delete the lead's webhook endpoint": Rule(
        f"DELETE {HOOKS}/{{endpoint_id}}", _lead_hook, delete_hook, None, OK, HIDDEN, HIDDEN
    ),
}


@dataclass(frozen=True)
class Read:
    """One read: the lead's set-up, the REST path, the GraphQL query and its field, outcomes."""

    setup: Setup
    rest: Callable[[Cast, str], str]
    graphql: str  # a query of one field taking $id
    id: Callable[[Cast, str], str]
    lead: str
    funder: str
    outsider: str

    def outcome(self, role: str) -> str:
        """What `role` gets."""
        outcome: str = getattr(self, role)
        return outcome


def _budget_id(cast: Cast, _: str) -> str:
    return cast.world.budget_id


READS: dict[str, Read] = {
    "read the budget": Read(
        _nothing,
        lambda c, _: c.world.budget_path(),
        "query($id: ID!) { budget(id: $id) { id totals { available } } }",
        _budget_id,
        OK,
        OK,
        HIDDEN,
    ),
    "read the person": Read(
        _nothing,
        lambda c, _: f"/v1/people/{c.world.person_id}",
        "query($id: ID!) { person(id: $id) { id name } }",
        lambda c, _: c.world.person_id,
        OK,
        OK,
        HIDDEN,
    ),
    "read a spend": Read(
        _spend,
        lambda c, spend_id: f"/v1/spends/{spend_id}",
        "query($id: ID!) { spend(id: $id) { id amount } }",
        lambda c, spend_id: spend_id,
        OK,
        OK,
        HIDDEN,
    ),
    "read a commitment": Read(
        _commitment,
        lambda c, held_id: f"/v1/commitments/{held_id}",
        "query($id: ID!) { commitment(id: $id) { id amount } }",
        lambda c, held_id: held_id,
        OK,
        OK,
        HIDDEN,
    ),
    "read the lead's stream": Read(
        _nothing,
        lambda c, _: f"/v1/streams/{c.world.care_stream}",
        "query($id: ID!) { node(id: $id) { id } }",
        lambda c, _: c.world.care_stream,
        OK,
        HIDDEN,
        HIDDEN,
    ),
    "read the budget's ledger": Read(
        _nothing,
        lambda c, _: c.world.budget_path("/transfers"),
        "query($id: ID!) { budget(id: $id) { transfers { edges { node { id } } } } }",
        _budget_id,
        OK,
        OK,
        HIDDEN,
    ),
    "read the lead's syncs": Read(
        _council_sync,
        lambda c, _: f"/v1/agencies/{c.world.council.agency_id}/syncs",
        "query($id: ID!) { node(id: $id) { ... on Agency { lastSync { id fetched } } } }",
        lambda c, _: str(c.world.council.agency_id),
        OK,
        HIDDEN,
        HIDDEN,
    ),
    "read a past statement": Read(
        _nothing,
        lambda c, _: c.world.budget_path("/statement"),
        "query($id: ID!) { budget(id: $id) { statement { totals { spent } } } }",
        _budget_id,
        OK,
        OK,
        HIDDEN,
    ),
}


def rest_outcome(response: httpx.Response) -> str:
    """OK, NO or HIDDEN from a REST answer (anything else: a description, to fail on)."""
    if response.status_code in (200, 201):
        return OK
    kind = response.json().get("type", "").rsplit("/", 1)[-1]
    if response.status_code == 403 and kind in ("forbidden-role", "not-awaiting-you"):
        return NO
    if response.status_code == 404 and kind == "not-found":
        return HIDDEN
    return f"{response.status_code} {response.text}"


def graphql_outcome(answer: Answer) -> str:
    """OK, NO or HIDDEN from a GraphQL answer of one field (else a description)."""
    if answer.response.status_code != 200:
        return f"{answer.response.status_code} {answer.response.text}"
    if not answer.errors:
        [value] = answer.body["data"].values()
        if value is not None and value.get("__typename") not in ("Refusal", "InsufficientFunds"):
            return OK
    elif len(answer.errors) == 1:
        extensions = answer.errors[0].get("extensions", {})
        kind = extensions.get("type")
        if extensions.get("code") == "FORBIDDEN" and kind in ("forbidden-role", "not-awaiting-you"):
            return NO
        if extensions.get("code") == "NOT_FOUND" and kind == "not-found":
            return HIDDEN
    return str(answer.body)
