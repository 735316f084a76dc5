"""OAuth clients: registering a partner system's credentials, finding, rotating, revoking.

These functions only flush; the caller's transaction (the request's session dependency,
or the CLI's unit of work) decides when to commit.

Revocation is checked on every authenticated request (`client_may_act`), so it takes
effect at once in every process that shares the database. A rotated secret keeps working
for a grace period so the partner can deploy the new one without an outage; tokens issued
before a rotation stay valid until they expire (minutes), unless the client is revoked.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Uuid, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.auth.caller import SCOPES
from service.auth.models import OAuthClient
from service.auth.secrets import hash_secret, new_client_id, new_client_secret
from service.domain.errors import DomainError
from service.sql import Statement

# oauth_client.name is String(200); the column would refuse more.
MAX_NAME_CHARS = 200
# oauth_client.client_id is String(64): a longer id names no client.
_MAX_CLIENT_ID_CHARS = 64
# How long the old secret keeps working after a rotation: a working day and a night, so a
# partner can roll the new secret through change control and every instance of its
# system (often across a day boundary) without an outage, while a leaked old secret stays
# usable for at most a day. After a leak, rotate with a grace of 0 (or revoke).
DEFAULT_ROTATION_GRACE_SECONDS = 24 * 60 * 60


class UnknownAgency(LookupError):
    """No agency has the id given."""


class UnknownClient(LookupError):
    """No client has the client_id given."""


class ClientRevoked(ValueError):
    """The client is revoked: it can be listed, but nothing else."""


class BadScope(ValueError):
    """A scope string names an unknown scope, or none at all."""


async def create_client(
    session: AsyncSession, *, agency_id: uuid.UUID, name: str, scope: str
) -> tuple[OAuthClient, str]:
    """Register a client for an agency; return the row and its plain secret (shown once).

    Raises BadScope for unknown scopes, ValueError for a bad name, UnknownAgency (a
    LookupError) for an unknown agency.
    """
    scopes = normalize_scope(scope)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > MAX_NAME_CHARS or "\x00" in clean_name:
        raise ValueError(f"The client name must be 1 to {MAX_NAME_CHARS} characters, without NUL.")
    if await session.get(Agency, agency_id) is None:
        raise UnknownAgency(f"There is no agency {agency_id}.")
    secret = new_client_secret()
    client = OAuthClient(
        id=uuid.uuid4(),
        client_id=new_client_id(),
        secret_hash=hash_secret(secret),
        agency_id=agency_id,
        name=clean_name,
        scope=scopes,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def find_client(
    session: AsyncSession, client_id: str, *, for_update: bool = False
) -> OAuthClient | None:
    """The client with this public client_id (locked if for_update), or None."""
    if not client_id or len(client_id) > _MAX_CLIENT_ID_CHARS or "\x00" in client_id:
        # Cannot match a stored id; and PostgreSQL text refuses NUL, so don't ask it.
        return None
    query = select(OAuthClient).where(OAuthClient.client_id == client_id)
    if for_update:
        query = query.with_for_update()
    result = await session.execute(query)
    return result.scalar_one_or_none()


class AccessRevoked(DomainError):
    """The token is good, but its client has since been revoked."""

    def __init__(self) -> None:
        super().__init__(
            "The access token was refused: its client has been revoked."
            " Ask the service operator for new client credentials."
        )


def client_may_act_column(client_pk: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether the client `client_pk` names still exists and is not revoked, as a column a
    request's first statement can carry (one primary-key probe, no round trip of its own)."""
    return (
        exists()
        .where(OAuthClient.id == client_pk, OAuthClient.revoked_at.is_(None))
        .label("client_may_act")
    )


# Built once and run as a prepared statement (service.sql): it runs on every request.
_CLIENT_MAY_ACT = Statement.of(select(client_may_act_column(bindparam("client_pk", type_=Uuid()))))


async def client_may_act(session: AsyncSession, client_pk: uuid.UUID) -> bool:
    """Whether the client behind a token still exists and is not revoked.

    Runs on every authenticated request: one primary-key lookup in the request's own
    transaction, so a revocation committed by any process is seen by the next request.
    """
    return bool(await _CLIENT_MAY_ACT.fetchval(session, {"client_pk": client_pk}))


def require_client_may_act(first_row: Mapping[str, Any]) -> None:
    """AccessRevoked unless the row of a statement carrying client_may_act_column says yes."""
    if not first_row["client_may_act"]:
        raise AccessRevoked()


async def list_clients(
    session: AsyncSession, *, agency_id: uuid.UUID | None = None
) -> list[OAuthClient]:
    """Every client (of one agency, if given), oldest first; UnknownAgency for a bad id."""
    query = select(OAuthClient).order_by(OAuthClient.created_at, OAuthClient.client_id)
    if agency_id is not None:
        if await session.get(Agency, agency_id) is None:
            raise UnknownAgency(f"There is no agency {agency_id}.")
        query = query.where(OAuthClient.agency_id == agency_id)
    return list((await session.scalars(query)).all())


async def revoke_client(
    session: AsyncSession, client_id: str, *, now: datetime | None = None
) -> OAuthClient:
    """Revoke a client for good: no new tokens, and the ones it holds stop working.

    Revoking twice keeps the first time. UnknownClient if there is no such client.
    """
    client = await _client_for_update(session, client_id)
    if client.revoked_at is None:
        client.revoked_at = now or datetime.now(UTC)
        # Nothing may authenticate as a revoked client; forget the rotated-out secret too.
        client.previous_secret_hash = None
        client.previous_secret_expires_at = None
        await session.flush()
    return client


async def rotate_client_secret(
    session: AsyncSession,
    client_id: str,
    *,
    grace_seconds: int = DEFAULT_ROTATION_GRACE_SECONDS,
    now: datetime | None = None,
) -> tuple[OAuthClient, str]:
    """Give a client a new secret; the old one works for grace_seconds more (0: not at all).

    Only the secret just replaced is kept: rotating again within the grace period ends
    the older one at once. Tokens already issued stay valid until they expire.
    Raises UnknownClient, ClientRevoked, or ValueError for a negative grace.
    """
    if grace_seconds < 0:
        raise ValueError(f"The grace period must be 0 seconds or more, not {grace_seconds}.")
    client = await _client_for_update(session, client_id)
    if client.revoked_at is not None:
        raise ClientRevoked(
            f"The client {client.client_id} was revoked at {client.revoked_at.isoformat()}; "
            "a revoked client gets no new secret."
        )
    secret = new_client_secret()
    if grace_seconds:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_expires_at = (now or datetime.now(UTC)) + timedelta(
            seconds=grace_seconds
        )
    else:
        client.previous_secret_hash = None
        client.previous_secret_expires_at = None
    client.secret_hash = hash_secret(secret)
    await session.flush()
    return client, secret


async def _client_for_update(session: AsyncSession, client_id: str) -> OAuthClient:
    """The client row, locked until the transaction ends; UnknownClient if there is none."""
    client = await find_client(session, client_id, for_update=True)
    if client is None:
        raise UnknownClient(f"There is no client {client_id!r}.")
    return client


def normalize_scope(scope: str) -> str:
    """The space-separated scope string in SCOPES order; ValueError naming unknown scopes."""
    requested = set(scope.split())
    unknown = sorted(requested - set(SCOPES))
    if unknown:
        raise BadScope(f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {' '.join(SCOPES)}.")
    if not requested:
        raise BadScope("Give the client at least one scope.")
    return " ".join(s for s in SCOPES if s in requested)
