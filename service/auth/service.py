"""OAuth clients: registering a partner system's credentials, and finding them again.

These functions only flush; the caller's transaction (the request's session dependency,
or the CLI's unit of work) decides when to commit.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.auth.caller import SCOPES
from service.auth.models import OAuthClient
from service.auth.secrets import hash_secret, new_client_id, new_client_secret

# oauth_client.name is String(200); the column would refuse more.
MAX_NAME_CHARS = 200
# oauth_client.client_id is String(64): a longer id names no client.
_MAX_CLIENT_ID_CHARS = 64


async def create_client(
    session: AsyncSession, *, agency_id: uuid.UUID, name: str, scope: str
) -> tuple[OAuthClient, str]:
    """Register a client for an agency; return the row and its plain secret (shown once).

    Raises ValueError for an unknown scope or a bad name, LookupError for an unknown agency.
    """
    scopes = normalize_scope(scope)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > MAX_NAME_CHARS or "\x00" in clean_name:
        raise ValueError(f"The client name must be 1 to {MAX_NAME_CHARS} characters, without NUL.")
    if await session.get(Agency, agency_id) is None:
        raise LookupError(f"There is no agency {agency_id}.")
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


async def find_client(session: AsyncSession, client_id: str) -> OAuthClient | None:
    """The client with this public client_id, or None."""
    if not client_id or len(client_id) > _MAX_CLIENT_ID_CHARS or "\x00" in client_id:
        # Cannot match a stored id; and PostgreSQL text refuses NUL, so don't ask it.
        return None
    result = await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))
    return result.scalar_one_or_none()


def normalize_scope(scope: str) -> str:
    """The space-separated scope string in SCOPES order; ValueError naming unknown scopes."""
    requested = set(scope.split())
    unknown = sorted(requested - set(SCOPES))
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {' '.join(SCOPES)}."
        )
    if not requested:
        raise ValueError("Give the client at least one scope.")
    return " ".join(s for s in SCOPES if s in requested)
