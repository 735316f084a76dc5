"""Idempotency, for any API: claim a key, replay its stored answer, derive new ids from it.

Same key, same request: the first answer is replayed. Same key, another request (another
body or another operation): KeyReused. Same key while the first is still running:
KeyInFlight. Keys are scoped to the calling client, never to its agency.

`stored()` takes a transaction-scoped advisory lock on (client, key) before reading the
stored record in a *later* statement, so a request that gets the lock right after the first
one commits is sure to see its record. The record is written in the same transaction as the
work, so either both happen or neither. Each API turns the answer into its own bytes; this
module keeps them as text so a replay is byte for byte the first answer.
"""

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.errors import DomainError
from service.idempotency.models import IdempotencyRecord
from service.sql import Statement

# Object ids derive from (client, key): a retry can never make a second object.
NAMESPACE = uuid.UUID("6f1c4c52-5b7e-4b8e-9a53-0b1e7c2d9f10")

# Prepared statements (service.sql): these run on every write that moves money.
_RECORDS = IdempotencyRecord.metadata.tables[IdempotencyRecord.__tablename__]
TRY_LOCK = Statement.of(
    select(func.pg_try_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0)))
)
FIND_RECORD = Statement.of(
    select(
        _RECORDS.c.request_hash, _RECORDS.c.status_code, _RECORDS.c.body, _RECORDS.c.headers
    ).where(_RECORDS.c.client_id == bindparam("client_id"), _RECORDS.c.key == bindparam("key"))
)
INSERT_RECORD = Statement.of(
    text(
        "INSERT INTO idempotency_record (client_id, key, request_hash, status_code, body, headers)"
        " VALUES (:client_id, :key, :request_hash, :status_code, :body, CAST(:headers AS jsonb))"
    )
)


class KeyInFlight(DomainError):
    """A request with the same key is still being processed."""


class KeyReused(DomainError):
    """The key was used before for a different request."""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first answer given under a key: a status, the body as text, and headers."""

    status_code: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


def fingerprint(operation: str, payload: bytes | str) -> str:
    """Hash of the operation (e.g. "POST /v1/budgets/…/spends") and its JSON payload."""
    try:
        canonical: Any = json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()


def derive_id(client_pk: uuid.UUID, key: str) -> uuid.UUID:
    """The id of the object a keyed write creates: the same for every retry of it."""
    return uuid.uuid5(NAMESPACE, f"{client_pk}:{key}")


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One write under an optional key: `stored()` before the work, `store()` after it."""

    session: AsyncSession
    client_pk: uuid.UUID
    key: str | None
    request_hash: str

    def new_id(self) -> uuid.UUID:
        """The id for the object this write creates (derived from the key when there is one)."""
        return uuid.uuid4() if self.key is None else derive_id(self.client_pk, self.key)

    async def stored(self) -> StoredAnswer | None:
        """The answer to replay, None to go ahead; KeyInFlight or KeyReused to refuse."""
        if self.key is None:
            return None
        lock_key = f"{self.client_pk}:{self.key}"
        if not await TRY_LOCK.fetchval(self.session, {"lock_key": lock_key}):
            raise KeyInFlight(
                "A request with this Idempotency-Key is still being processed; retry shortly."
            )
        record = await FIND_RECORD.fetchrow(
            self.session, {"client_id": self.client_pk, "key": self.key}
        )
        if record is None:
            return None
        if record["request_hash"] != self.request_hash:
            raise KeyReused("This Idempotency-Key was used for a different request; use a new key.")
        return StoredAnswer(record["status_code"], record["body"], record["headers"])

    async def store(self, answer: StoredAnswer) -> None:
        """Keep the answer under the key, in this transaction (nothing to keep without one)."""
        if self.key is None:
            return
        await INSERT_RECORD.fetch(
            self.session,
            {
                "client_id": self.client_pk,
                "key": self.key,
                "request_hash": self.request_hash,
                "status_code": answer.status_code,
                "body": answer.body,
                "headers": json.dumps(dict(answer.headers)),
            },
        )
