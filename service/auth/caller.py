"""Who is calling: the client behind a verified access token, and its agency."""

import uuid
from dataclasses import dataclass

SCOPES = (
    "streams:read",
    "streams:write",
    "people:read",
    "people:write",
    "budgets:read",
    "budgets:write",
    "allocations:write",
    "spends:read",
    "spends:write",
    "spends:approve",
    "ledger:read",
    "webhooks:read",
    "webhooks:write",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """A partner system acting for its agency, with the scopes its token grants."""

    client_pk: uuid.UUID  # oauth_client.id
    client_id: str  # the public client identifier
    agency_id: uuid.UUID
    scopes: frozenset[str]
    expires_at: int = 0  # the token's exp (seconds since the epoch); 0 = not from a token
