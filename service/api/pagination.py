"""Cursor pagination: sealed cursors that carry the last row's sort key.

A cursor is the sort key encrypted and authenticated (AES-GCM), so a client can neither
read it (transfer cursors would otherwise reveal the global ledger sequence) nor forge
one: anything we did not hand out is a clean 400 `bad-cursor`. Every process derives the
same cursor key from the token-signing key (see `use_cursor_secret`), so a cursor made by
one worker is good at every other, and after a restart.
"""

import base64
import binascii
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from service.domain.errors import BadCursor

T = TypeVar("T")
M = TypeVar("M")

_NONCE_BYTES = 12
_INT64 = range(-(2**63), 2**63)
# Until the app names its secret, cursors work within this process only.
_cursor_key = AESGCM(AESGCM.generate_key(bit_length=256))


class Page(BaseModel, Generic[T]):
    """One page of a list; pass next_cursor back as ?cursor= for the next one."""

    items: list[T]
    next_cursor: str | None


Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (default 50, max 500)")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the last page")]


def use_cursor_secret(secret: bytes) -> None:
    """Seal cursors with a key derived from `secret` (the same secret in every worker)."""
    global _cursor_key
    _cursor_key = AESGCM(hashlib.sha256(b"onebudget list cursor v1\x00" + secret).digest())


def _bad() -> BadCursor:
    return BadCursor()


def encode_cursor(*key: Any) -> str:
    """Seal a row's sort key (JSON numbers kept, anything else as a string) into a cursor."""
    raw = json.dumps([p if isinstance(p, int | float) else str(p) for p in key]).encode()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + _cursor_key.encrypt(nonce, raw, None)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def decode_cursor(cursor: str, *, parts: int) -> list[Any]:
    """Open a cursor, refusing anything that is not one of ours."""
    try:
        sealed = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        key = json.loads(_cursor_key.decrypt(nonce, body, None))
    except (binascii.Error, ValueError, UnicodeError, InvalidTag):
        raise _bad() from None
    if not isinstance(key, list) or len(key) != parts:
        raise _bad()
    return key


def _coerce(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    """Turn a cursor value back into the column's Python type, within what the database holds.

    Cursors are sealed, so this guards against our own bugs, not clients: still, a value the
    driver cannot send (an integer past 64 bits, a time outside years 1-9999 in UTC, a NUL)
    must be a 400, never a 500.
    """
    python_type = column.type.python_type
    try:
        if python_type is int:
            if type(value) is not int or value not in _INT64:
                raise ValueError("not a 64-bit integer")
            return value
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError("not a clean string")
        if python_type is datetime:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            moment.astimezone(UTC)  # OverflowError where UTC falls outside years 1-9999
            return moment
        if python_type is uuid.UUID:
            return uuid.UUID(value)
        return value
    except (TypeError, ValueError, OverflowError):
        raise _bad() from None


async def paginate(
    session: AsyncSession,
    query: Select[M],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> tuple[list[M], str | None]:
    """One keyset page of `query` ordered by `order` (unique together); and the next cursor."""
    if cursor is not None:
        after = [
            _coerce(v, col)
            for v, col in zip(decode_cursor(cursor, parts=len(order)), order, strict=True)
        ]
        key, bound = tuple_(*order), tuple_(*after)
        query = query.where(key < bound if newest_first else key > bound)
    query = query.order_by(*(col.desc() if newest_first else col for col in order))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    next_cursor = encode_cursor(*(_cursor_value(getattr(last, col.key)) for col in order))
    return rows[:limit], next_cursor


def _cursor_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
