"""/graphql sits behind REST's middleware and fails like a REST request when it must.

Body limit, access log, request id and no-store answers; a conflicted transaction retried
whole (RetryConflicts), a database that did not answer a 503, our own error a 500 problem;
but never a failed request once one of its mutations has committed. Mutations over GET are
refused; GraphiQL and introspection are off unless the setting turns them on.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

import schema.mutations
from service.config import Settings
from service.sql import ConnectionLost
from tests.graphql.client import PATH, as_partner, ask
from tests.graphql.documents import spend_input
from tests.partners import Partner, PartnerFactory
from tests.world import make_world

CREATE_PERSON = """mutation($input: CreatePersonInput!) {
  createPerson(input: $input) { __typename ... on Person { id name } } }"""


def _person(name: str = "Jo") -> dict[str, str]:
    return {"reference": f"P-{uuid.uuid4().hex[:8]}", "name": name, "dateOfBirth": "1975-03-04"}


class Conflict(Exception):
    """What a serialization failure looks like to service.ops.retry (its SQLSTATE)."""

    sqlstate = "40001"


async def _people(partner: Partner) -> list[str]:
    answer = await as_partner(partner, "{ people(first: 500) { edges { node { name } } } }")
    return [edge["node"]["name"] for edge in answer.data["people"]["edges"]]


def _fail_first(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int = 1) -> list[int]:
    """createPerson fails with `error` the first `times` calls, then works."""
    real = schema.mutations.create_person
    calls: list[int] = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return await real(*args, **kwargs)

    monkeypatch.setattr(schema.mutations, "create_person", flaky)
    return calls


async def test_a_conflicted_mutation_is_retried_whole(
    partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    council = await partners()
    calls = _fail_first(monkeypatch, Conflict())
    answer = await as_partner(council, CREATE_PERSON, input=_person("Retried"))
    assert answer.data["createPerson"]["name"] == "Retried"
    assert len(calls) == 2
    assert await _people(council) == ["Retried"]


async def test_our_error_is_a_500_and_a_dead_database_a_503(
    partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    council = await partners()
    _fail_first(monkeypatch, RuntimeError("a bug"))
    broken = await as_partner(council, CREATE_PERSON, input=_person())
    assert broken.response.status_code == 500
    assert broken.body["type"].endswith("/server-error")
    assert "a bug" not in broken.response.text
    _fail_first(monkeypatch, ConnectionLost("gone"))
    gone = await as_partner(council, CREATE_PERSON, input=_person())
    assert gone.response.status_code == 503
    assert gone.response.headers["retry-after"] == "1"
    assert await _people(council) == []


async def test_after_a_commit_an_error_is_the_fields_alone(
    partners: PartnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(partners)
    calls = _fail_first(monkeypatch, RuntimeError("a bug"))
    document = """mutation($spend: RecordSpendInput!, $a: CreatePersonInput!,
                           $b: CreatePersonInput!) {
      spent: recordSpend(input: $spend, idempotencyKey: "k1") { __typename }
      broken: createPerson(input: $a) { __typename }
      later: createPerson(input: $b) { __typename }
    }"""
    answer = await as_partner(
        world.council,
        document,
        spend=spend_input(world.budget_id, 1_000),
        a=_person("A"),
        b=_person("B"),
    )
    assert answer.response.status_code == 200
    assert answer.body["data"] == {"spent": {"__typename": "Spend"}, "broken": None, "later": None}
    assert answer.codes == ["INTERNAL_SERVER_ERROR", "NOT_RUN"]
    assert "a bug" not in answer.response.text
    assert len(calls) == 1  # the later mutation did not run
    spends = (await world.council.get(world.budget_path("/spends"))).json()["items"]
    assert [s["amount"] for s in spends] == [1_000]  # the committed one stays


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        ("{ viewer { clientId ", {}, "GRAPHQL_PARSE_FAILED"),
        ("{ viewer { noSuchField } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ budgets(filter: {availableBelow: 100000000000000000000}) { edges { cursor } } }",
            {},
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query($n: Int!) { budgets(first: $n) { edges { cursor } } }",
            {"n": "x"},
            "BAD_USER_INPUT",
        ),
        (
            "query($m: Money!) { budgets(filter: {availableBelow: $m}) { edges { cursor } } }",
            {"m": 10**30},
            "BAD_USER_INPUT",
        ),
    ],
)
async def test_an_error_about_the_document_has_its_code(
    partners: PartnerFactory, document: str, variables: dict[str, Any], code: str
) -> None:
    council = await partners()

    answer = await as_partner(council, document, **variables)

    assert answer.response.status_code == 200
    assert answer.body.get("data") is None
    assert answer.codes == [code], answer.errors


async def test_middleware_sees_graphql(
    partners: PartnerFactory, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    council = await partners()
    with caplog.at_level(logging.INFO, logger="onebudget.access"):
        answer = await as_partner(council, "{ viewer { clientId } }")
    assert answer.response.headers["cache-control"] == "no-store"
    assert answer.response.headers["x-request-id"]
    [logged] = [r for r in caplog.records if getattr(r, "path", None) == PATH]
    assert logged.status == 200
    huge = {"query": "{ viewer { clientId } }", "variables": {"pad": "x" * (1024 * 1024)}}
    too_large = await client.post(PATH, json=huge, headers=council.headers)
    assert too_large.status_code == 413


async def test_mutations_over_get_are_refused(partners: PartnerFactory) -> None:
    world = await make_world(partners)
    document = f"""mutation {{ recordSpend(idempotencyKey: "k", input: {{
        budgetId: "{world.budget_id}", amount: 1000, category: PERSONAL_CARE,
        description: "Support", occurredOn: "2026-06-01"}}) {{ __typename }} }}"""
    response = await world.council.get(PATH, params={"query": document})
    assert response.status_code == 400, response.text
    posted = await as_partner(world.council, document)
    assert posted.data == {"recordSpend": {"__typename": "Spend"}}  # the same, over POST
    query = await world.council.get(PATH, params={"query": "{ viewer { clientId } }"})
    assert query.json()["data"]["viewer"]["clientId"] == world.council.client_id
    assert len((await world.council.get(world.budget_path("/spends"))).json()["items"]) == 1


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_graphiql_and_introspection_are_off_by_default(client: httpx.AsyncClient) -> None:
    page = await client.get(PATH, headers={"Accept": "text/html"})
    assert page.status_code == 404
    answer = await ask(client, INTROSPECTION)
    assert answer.body.get("data") is None
    assert "introspection" in answer.errors[0]["message"].lower()


@pytest.fixture
async def open_app(data_dir: Path, shared_url: str) -> AsyncIterator[FastAPI]:
    """An app with ONEBUDGET_GRAPHQL_IDE on, as `serve --demo` runs it."""
    from service.main import create_app

    settings = Settings(
        data_dir=data_dir,
        commitment_sweep_seconds=3600,
        idempotency_purge_seconds=3600,
        graphql_ide=True,
    )
    app = create_app(settings, database_url=shared_url, migrate=False)
    async with LifespanManager(app):
        yield app


async def test_the_setting_turns_graphiql_and_introspection_on(open_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=open_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get(PATH, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        answer = await ask(client, INTROSPECTION)
        assert answer.data == {"__schema": {"queryType": {"name": "Query"}}}
