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
    "syncs:read",
    "syncs:write",
    "webhooks:read",
    "webhooks:write",
)

# What a sync needs to do as its agency: apply awards, nothing else.
SYSTEM_SCOPES = {"sync": frozenset({"allocations:write", "budgets:read", "spends:read"})}
# No OAuth client stands behind a system caller: nothing it writes may name one.
SYSTEM_CLIENT = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class Caller:
    """A partner system acting for its agency, with the scopes its token grants."""

    client_pk: uuid.UUID  # oauth_client.id
    client_id: str  # the public client identifier
    agency_id: uuid.UUID
    scopes: frozenset[str]
    expires_at: int = 0  # the token's exp (seconds since the epoch); 0 = not from a token


def system_caller(*, agency_id: uuid.UUID, purpose: str) -> Caller:
    """onebudget itself acting for an agency (e.g. a sync applying the agency's own awards),
    with only the scopes that purpose needs; never a partner's client."""
    return Caller(
        client_pk=SYSTEM_CLIENT,
        client_id=f"system:{purpose}",
        agency_id=agency_id,
        scopes=SYSTEM_SCOPES[purpose],
    )
