"""Idempotency-Key semantics for writes (IETF httpapi draft, as Stripe does it).

Same key, same request: the first response is replayed. Same key, another request: 422.
Same key while the first is still running: 409. Keys are scoped to the calling client.

The guard takes a transaction-scoped advisory lock on (client, key) before reading the
stored record in a *later* statement, so a request that acquires the lock right after the
first one commits is sure to see its record. The record is written in the same
transaction as the work, so either both happen or neither.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.caller import Caller
from service.auth.dependencies import Authenticated
from service.database import SessionDep
from service.errors import Conflict, Problem, Unprocessable
from service.idempotency.models import IdempotencyRecord

JSON = "application/json"
KEY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"


# Built once, parameters bound at execute: these run on every write that moves money.
_RECORDS = IdempotencyRecord.metadata.tables[IdempotencyRecord.__tablename__]
TRY_LOCK = select(func.pg_try_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0)))
FIND_RECORD = select(
    _RECORDS.c.request_hash, _RECORDS.c.status_code, _RECORDS.c.body, _RECORDS.c.headers
).where(_RECORDS.c.client_id == bindparam("client_id"), _RECORDS.c.key == bindparam("key"))
INSERT_RECORD = insert(_RECORDS)


class MissingIdempotencyKey(Problem):
    """A write that moves money came without an Idempotency-Key."""

    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key required"


@dataclass
class Idempotency:
    """The guard one request uses: `previous()` before the work, `respond()` after it."""

    session: AsyncSession
    caller: Caller
    key: str | None
    request_hash: str

    async def previous(self) -> Response | None:
        """Replay the stored answer, refuse a clash, or return None to go ahead."""
        if self.key is None:
            return None
        lock_key = f"{self.caller.client_pk}:{self.key}"
        locked = await self.session.scalar(TRY_LOCK, {"lock_key": lock_key})
        if not locked:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                headers={"Retry-After": "1"},
            )
        found = await self.session.execute(
            FIND_RECORD, {"client_id": self.caller.client_pk, "key": self.key}
        )
        record = found.one_or_none()
        if record is None:
            return None
        if record.request_hash != self.request_hash:
            raise Unprocessable(
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        headers = {**record.headers, REPLAY_HEADER: "true"}
        return Response(
            record.body, status_code=record.status_code, headers=headers, media_type=JSON
        )

    async def respond(
        self, status_code: int, body: BaseModel, headers: dict[str, str] | None = None
    ) -> Response:
        """Build the response and, under a key, store it in this transaction."""
        content = body.model_dump_json()
        headers = headers or {}
        if self.key is not None:
            await self.session.execute(
                INSERT_RECORD,
                {
                    "client_id": self.caller.client_pk,
                    "key": self.key,
                    "request_hash": self.request_hash,
                    "status_code": status_code,
                    "body": content,
                    "headers": headers,
                },
            )
        return Response(content, status_code=status_code, headers=headers, media_type=JSON)


def _fingerprint(request: Request, body: bytes) -> str:
    """Hash of method, path and the JSON body in canonical form."""
    try:
        canonical: Any = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = body.decode("utf-8", "replace")
    material = f"{request.method} {request.url.path}\n{canonical}"
    return hashlib.sha256(material.encode()).hexdigest()


KeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique key per intended write (a UUID is good); retries reuse it.",
    ),
]


async def _guard(
    request: Request, session: SessionDep, caller: Authenticated, key: KeyHeader = None
) -> Idempotency:
    return Idempotency(session, caller, key, _fingerprint(request, await request.body()))


async def required_guard(idempotency: Annotated[Idempotency, Depends(_guard)]) -> Idempotency:
    """The guard for writes that move money: the key is required."""
    if idempotency.key is None:
        raise MissingIdempotencyKey(
            f"Send an {KEY_HEADER} header (a new UUID per intended write) so a retry"
            " can never move money twice."
        )
    return idempotency


IdempotentWrite = Annotated[Idempotency, Depends(required_guard)]
OptionallyIdempotent = Annotated[Idempotency, Depends(_guard)]
