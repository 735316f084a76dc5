"""Idempotency, for any API: claim a key, replay its stored answer, or give the work a new id.

Same key, same request: the first answer is replayed. Same key, another request (another
body or another operation): KeyReused. Same key while the first is still running:
KeyInFlight. Keys are scoped to the calling client, never to its agency.

Claiming a key takes a transaction-scoped advisory lock on (client, key) and only then
reads the stored record, with a fresh snapshot, so a request that gets the lock right after
the first one commits is sure to see its record. Both happen in one round trip, inside the
database function idempotency_claim (migration 0004), which a hot path can also call from
its own first statement (CLAIM_FROM). The record is written in the same transaction as the
work, so either both happen or neither; a hot path writes it in the very statement that does
the work (KEEP_CTE). Each API turns the answer into its own bytes; this module keeps them as
text so a replay is byte for byte the first answer.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, String, Uuid, bindparam, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.errors import DomainError
from service.sql import Statement

# What a key may be, in every API: 1 to 255 printable ASCII characters, no spaces.
KEY_PATTERN = r"^[\x21-\x7e]+$"
KEY_MAX_LENGTH = 255

# The claim as a FROM item, its columns (bound as :client_id and :key), and the claim alone.
CLAIM_FROM = func.idempotency_claim(
    bindparam("client_id", type_=Uuid()), bindparam("key", type_=String())
).table_valued("locked", "request_hash", "status_code", "body", "headers", name="claim")
CLAIM = Statement.of(select(CLAIM_FROM))
_CLAIM_COLUMNS = [CLAIM_FROM.c[name].label(f"claim_{name}") for name in CLAIM_FROM.c.keys()]


def claiming(statement: Select[Any], *also: ColumnElement[Any]) -> Select[Any]:
    """`statement` with the key's claim in the same round trip, for a write's first statement.

    The claim comes first (the FROM item), then the statement's rows, each with the claim's
    columns (claim_locked, claim_request_hash, ...), the transaction's time (claimed_at, the
    now() every later statement of the transaction sees too) and the `also` columns. With no
    rows of its own, the statement still gives one row: the claim's, its own columns NULL.
    """
    own = statement.lateral("own")
    return select(*_CLAIM_COLUMNS, func.now().label("claimed_at"), *also, own).select_from(
        CLAIM_FROM.outerjoin(own, true())
    )


# Keeping the answer: a CTE for the statement that does the work, or a statement of its own.
KEEP_CTE = """
    kept AS (
        INSERT INTO idempotency_record (client_id, key, request_hash, status_code, body, headers)
        VALUES (:client_id, :key, :request_hash, :status_code, :answer_body,
                CAST(:answer_headers AS jsonb))
        RETURNING 1
    )"""
INSERT_RECORD = Statement.of(text(f"WITH {KEEP_CTE} SELECT count(*) FROM kept"))


class KeyInFlight(DomainError):
    """A request with the same key is still being processed."""


class KeyReused(DomainError):
    """The key was used before for a different request."""


class AlreadyAnswered(Exception):
    """A write's own first statement found the key answered: replay that answer instead."""

    def __init__(self, answer: "StoredAnswer") -> None:
        super().__init__("already answered")
        self.answer = answer


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


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One write under an optional key: `stored()` before the work, `store()` after it."""

    session: AsyncSession
    client_pk: uuid.UUID
    key: str | None
    request_hash: str

    def new_id(self) -> uuid.UUID:
        """A fresh id for the object this write creates.

        Random, not derived from the key: a retry replays the stored answer (and its id)
        instead of reaching here, and a key whose answer was purged must make a new object.
        """
        return uuid.uuid4()

    def claim_params(self) -> dict[str, Any]:
        """The parameters of CLAIM_FROM for this request."""
        return {"client_id": self.client_pk, "key": self.key}

    def settle(self, claim: Mapping[str, Any]) -> StoredAnswer | None:
        """Judge a claim row: the answer to replay, None to go ahead; or refuse."""
        if not claim["locked"]:
            raise KeyInFlight(
                "A request with this Idempotency-Key is still being processed; retry shortly."
            )
        if claim["request_hash"] is None:
            return None
        if claim["request_hash"] != self.request_hash:
            raise KeyReused("This Idempotency-Key was used for a different request; use a new key.")
        return StoredAnswer(claim["status_code"], claim["body"], claim["headers"])

    async def stored(self) -> StoredAnswer | None:
        """The answer to replay, None to go ahead; KeyInFlight or KeyReused to refuse."""
        if self.key is None:
            return None
        return self.settle(await CLAIM.fetchrow(self.session, self.claim_params()))

    def keep_params(self, answer: StoredAnswer) -> dict[str, Any]:
        """The parameters of KEEP_CTE that keep `answer` under the key."""
        return {
            **self.claim_params(),
            "request_hash": self.request_hash,
            "status_code": answer.status_code,
            "answer_body": answer.body,
            "answer_headers": json.dumps(dict(answer.headers)),
        }

    async def store(self, answer: StoredAnswer) -> None:
        """Keep the answer under the key, in this transaction (nothing to keep without one)."""
        if self.key is not None:
            await INSERT_RECORD.fetch(self.session, self.keep_params(answer))


@dataclass(slots=True)
class Keeper:
    """A keyed write that claims its key in its own first statement and keeps its answer in
    its last, so a money-moving request costs two round trips less (see claiming, KEEP_CTE).

    `render` turns the write's result into the answer the API sends; `answer` is that
    answer once kept.
    """

    request: IdempotentRequest
    render: Callable[[Any], StoredAnswer]
    answer: StoredAnswer | None = None

    def claim_params(self) -> dict[str, Any]:
        """The parameters of the claim in the first statement."""
        return self.request.claim_params()

    def settle(self, first_row: Mapping[str, Any]) -> None:
        """Go ahead, refuse (KeyInFlight, KeyReused), or AlreadyAnswered with the replay."""
        claim = {name: first_row[f"claim_{name}"] for name in CLAIM_FROM.c.keys()}
        stored = self.request.settle(claim)
        if stored is not None:
            raise AlreadyAnswered(stored)

    def keep_params(self, result: Any) -> dict[str, Any]:
        """Render the result and give KEEP_CTE's parameters, for the write's last statement."""
        self.answer = self.render(result)
        return self.request.keep_params(self.answer)
