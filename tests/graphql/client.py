"""A tiny GraphQL client for the tests: POST a document to /graphql over HTTP, with a
partner's token, and read the answer's data and errors."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.partners import Partner

PATH = "/graphql"


@dataclass(frozen=True)
class Answer:
    """What /graphql answered: the HTTP response, its data and its errors."""

    response: httpx.Response

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body."""
        body: dict[str, Any] = self.response.json()
        return body

    @property
    def data(self) -> dict[str, Any]:
        """`data`, asserting there were no errors."""
        assert self.response.status_code == 200, self.response.text
        assert "errors" not in self.body, self.body["errors"]
        data: dict[str, Any] = self.body["data"]
        return data

    @property
    def errors(self) -> list[dict[str, Any]]:
        """`errors` (none: an empty list)."""
        errors: list[dict[str, Any]] = self.body.get("errors", [])
        return errors

    @property
    def codes(self) -> list[str]:
        """Each error's extensions.code, in order."""
        return [error.get("extensions", {}).get("code", "") for error in self.errors]


async def ask(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> Answer:
    """POST one GraphQL document."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"query": query, "variables": variables or {}}
    return Answer(await http.post(PATH, json=body, headers=headers))


async def as_partner(partner: Partner, query: str, **variables: Any) -> Answer:
    """POST one GraphQL document with the partner's token."""
    return await ask(partner.client, query, variables, token=partner.token)
