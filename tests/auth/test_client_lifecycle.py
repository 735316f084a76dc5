"""Clients over their life: revoked at once everywhere, secrets rotated with a grace period."""

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from service.auth.ecdsa import P256_ORDER
from service.auth.service import (
    ClientRevoked,
    UnknownClient,
    revoke_client,
    rotate_client_secret,
)
from tests.partners import Partner, PartnerFactory
from tests.world import commitment_body, created, make_world, spend_body

TOKEN_FORM = {"grant_type": "client_credentials"}


async def _revoke(app: FastAPI, client_id: str) -> None:
    """Revoke in its own committed transaction, as the CLI does."""
    async with app.state.sessionmaker() as session, session.begin():
        await revoke_client(session, client_id)


async def _rotate(app: FastAPI, client_id: str, **options: object) -> str:
    """Rotate in its own committed transaction; the new secret."""
    async with app.state.sessionmaker() as session, session.begin():
        _, secret = await rotate_client_secret(session, client_id, **options)  # type: ignore[arg-type]
        return secret


async def _token_status(client: httpx.AsyncClient, client_id: str, secret: str) -> int:
    """The token endpoint's status for these credentials."""
    return (
        await client.post("/oauth/token", data=TOKEN_FORM, auth=(client_id, secret))
    ).status_code


def _refused_as_invalid_token(response: httpx.Response) -> None:
    """A 401 whose challenge says invalid_token."""
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


class TestRevocation:
    async def test_a_revoked_clients_cached_token_stops_at_once(
        self, app: FastAPI, partners: PartnerFactory
    ) -> None:
        partner = await partners()
        assert (await partner.get("/v1/agencies")).status_code == 200
        assert app.state.verified_tokens.get(partner.token) is not None  # cached
        await _revoke(app, partner.client_id)
        refused = await partner.get("/v1/agencies")
        _refused_as_invalid_token(refused)
        assert "revoked" in refused.json()["detail"]

    @pytest.mark.parametrize(
        ("tail", "body"),
        [("/spends", spend_body(1_000)), ("/commitments", commitment_body(1_000))],
        ids=["spend", "commitment"],
    )
    async def test_a_revoked_client_moves_no_money_even_with_an_answered_key(
        self, app: FastAPI, partners: PartnerFactory, tail: str, body: dict[str, object]
    ) -> None:
        # These two hot routes check the client in their own first statement, not on the
        # way in: a revoked client is refused there, before a replay or any money moves.
        world = await make_world(partners)
        await created(await world.council.post(world.budget_path(tail), body, key="answered"))
        before = (await world.council.get(world.budget_path())).json()
        await _revoke(app, world.council.client_id)
        for key in ("answered", "new"):
            refused = await world.council.post(world.budget_path(tail), body, key=key)
            _refused_as_invalid_token(refused)
            assert "revoked" in refused.json()["detail"]
        after = (await world.housing.get(world.budget_path())).json()
        assert after["totals"] == before["totals"]

    async def test_a_revoked_client_gets_no_new_token(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        await _revoke(app, partner.client_id)
        answer = await client.post(
            "/oauth/token", data=TOKEN_FORM, auth=(partner.client_id, partner.client_secret)
        )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"

    async def test_revoking_one_client_leaves_the_others(
        self, app: FastAPI, partners: PartnerFactory
    ) -> None:
        kept, revoked = await partners(), await partners()
        await _revoke(app, revoked.client_id)
        assert (await kept.get("/v1/agencies")).status_code == 200

    async def test_revoking_twice_keeps_the_first_time_and_unknown_is_refused(
        self, app: FastAPI, partners: PartnerFactory
    ) -> None:
        partner = await partners()
        async with app.state.sessionmaker() as session, session.begin():
            first = (await revoke_client(session, partner.client_id)).revoked_at
            again = await revoke_client(session, partner.client_id, now=datetime.now(UTC))
            assert again.revoked_at == first
            with pytest.raises(UnknownClient):
                await revoke_client(session, "ob_nobody")
            with pytest.raises(ClientRevoked):
                await rotate_client_secret(session, partner.client_id)


class TestRotation:
    async def test_old_and_new_secrets_work_during_the_grace_period(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        new_secret = await _rotate(app, partner.client_id, grace_seconds=3600)
        assert await _token_status(client, partner.client_id, partner.client_secret) == 200
        assert await _token_status(client, partner.client_id, new_secret) == 200
        # Tokens issued before the rotation keep working until they expire.
        assert (await partner.get("/v1/agencies")).status_code == 200

    async def test_the_old_secret_stops_when_the_grace_period_ends(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        rotated_long_ago = datetime.now(UTC) - timedelta(days=2)
        new_secret = await _rotate(
            app, partner.client_id, grace_seconds=86_400, now=rotated_long_ago
        )
        assert await _token_status(client, partner.client_id, partner.client_secret) == 401
        assert await _token_status(client, partner.client_id, new_secret) == 200

    async def test_no_grace_ends_the_old_secret_at_once(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        await _rotate(app, partner.client_id, grace_seconds=0)
        assert await _token_status(client, partner.client_id, partner.client_secret) == 401

    async def test_rotating_again_ends_the_oldest_secret(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        second = await _rotate(app, partner.client_id)
        third = await _rotate(app, partner.client_id)
        assert await _token_status(client, partner.client_id, partner.client_secret) == 401
        assert await _token_status(client, partner.client_id, second) == 200
        assert await _token_status(client, partner.client_id, third) == 200

    async def test_revoking_ends_the_old_secret_too(
        self, app: FastAPI, partners: PartnerFactory, client: httpx.AsyncClient
    ) -> None:
        partner = await partners()
        new_secret = await _rotate(app, partner.client_id)
        await _revoke(app, partner.client_id)
        for secret in (partner.client_secret, new_secret):
            assert await _token_status(client, partner.client_id, secret) == 401


def _high_s_twin(token: str) -> str:
    """The same token with its ECDSA signature (r, s) malleated to (r, n - s)."""
    signing_input, _, encoded = token.rpartition(".")
    signature = base64.urlsafe_b64decode(encoded + "==")
    s = int.from_bytes(signature[32:], "big")
    twin = signature[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return f"{signing_input}.{base64.urlsafe_b64encode(twin).rstrip(b'=').decode()}"


async def test_a_malleated_high_s_token_is_refused_while_the_original_passes(
    partners: PartnerFactory,
) -> None:
    partner = await partners()
    twin = Partner(
        partner.client,
        partner.agency_id,
        partner.client_id,
        partner.client_secret,
        _high_s_twin(partner.token),
    )
    assert (await partner.get("/v1/agencies")).status_code == 200
    refused = await twin.get("/v1/agencies")
    _refused_as_invalid_token(refused)
    assert "low-S" in refused.headers["www-authenticate"]


async def test_the_revocation_check_shares_the_requests_session(
    app: FastAPI, partners: PartnerFactory
) -> None:
    """One session (one transaction, one pooled connection) per request, check included."""
    partner = await partners()
    made = app.state.sessionmaker
    opened: list[object] = []

    def counting() -> object:
        opened.append(session := made())
        return session

    app.state.sessionmaker = counting
    try:
        assert (await partner.get("/v1/agencies")).status_code == 200
    finally:
        app.state.sessionmaker = made
    assert len(opened) == 1
