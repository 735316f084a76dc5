"""Test partners: an agency, its OAuth client, a real token, and short request helpers."""

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from service.agencies.service import create_agency
from service.auth.caller import SCOPES
from service.auth.service import create_client

ALL_SCOPES = " ".join(SCOPES)


@dataclass
class Partner:
    """One agency's system, calling the API with its own token."""

    client: httpx.AsyncClient
    agency_id: uuid.UUID
    client_id: str
    client_secret: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with this partner's token."""
        return await self.client.get(path, headers=self.headers, **kwargs)

    async def post(
        self, path: str, json: Any = None, *, key: str | None = "auto", **kwargs: Any
    ) -> httpx.Response:
        """POST JSON with this partner's token and, unless key=None, a fresh Idempotency-Key."""
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
        headers.update(kwargs.pop("headers", {}))
        return await self.client.post(path, json=json, headers=headers, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """DELETE with this partner's token."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.delete(path, headers=headers, **kwargs)

    async def patch(self, path: str, json: Any, **kwargs: Any) -> httpx.Response:
        """PATCH JSON with this partner's token."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.patch(path, json=json, headers=headers, **kwargs)


@dataclass
class PartnerFactory:
    """Registers agencies and clients in the test database and fetches real tokens."""

    app: FastAPI
    client: httpx.AsyncClient

    async def register(
        self, *, kind: str = "council", name: str | None = None, scope: str = ALL_SCOPES
    ) -> tuple[uuid.UUID, str, str]:
        """Add an agency and a client the way the CLI does; return ids and the secret."""
        async with self.app.state.sessionmaker() as session, session.begin():
            agency = await create_agency(
                session, name=name or f"{kind} {uuid.uuid4().hex[:6]}", kind=kind
            )
            row, secret = await create_client(
                session, agency_id=agency.id, name="system", scope=scope
            )
            return agency.id, row.client_id, secret

    async def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        """An access token from the real token endpoint (client_secret_basic)."""
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        response = await self.client.post("/oauth/token", data=form, auth=(client_id, secret))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def __call__(
        self, *, kind: str = "council", name: str | None = None, scope: str = ALL_SCOPES
    ) -> Partner:
        """A new agency with a client holding `scope`, ready to call the API."""
        agency_id, client_id, secret = await self.register(kind=kind, name=name, scope=scope)
        token = await self.token(client_id, secret)
        return Partner(self.client, agency_id, client_id, secret, token)

    async def another_client(self, partner: Partner, *, scope: str = ALL_SCOPES) -> Partner:
        """A second client (its own credentials and token) of the same agency as `partner`."""
        return await self.of_agency(partner.agency_id, scope=scope)

    async def of_agency(self, agency_id: uuid.UUID, *, scope: str = ALL_SCOPES) -> Partner:
        """A new client (its own credentials and token) of an agency already registered."""
        async with self.app.state.sessionmaker() as session, session.begin():
            row, secret = await create_client(
                session, agency_id=agency_id, name="second system", scope=scope
            )
            client_id = row.client_id
        token = await self.token(client_id, secret)
        return Partner(self.client, agency_id, client_id, secret, token)

    async def narrowed(self, partner: Partner, *, scope: str) -> Partner:
        """The same client as `partner`, calling with a token granted only `scope`."""
        token = await self.token(partner.client_id, partner.client_secret, scope)
        return Partner(
            self.client, partner.agency_id, partner.client_id, partner.client_secret, token
        )
