"""Cursor pagination: opaque cursors that encode the last row's sort key."""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from service.domain.errors import BadCursor

T = TypeVar("T")
M = TypeVar("M")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass next_cursor back as ?cursor= for the next one."""

    items: list[T]
    next_cursor: str | None


Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (default 50, max 500)")]
Cursor = Annotated[str | None, Query(max_length=500, description="next_cursor of the last page")]


def encode_cursor(*key: Any) -> str:
    """Make an opaque cursor from a row's sort key (strings and integers)."""
    raw = json.dumps([str(part) if not isinstance(part, int) else part for part in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, parts: int) -> list[Any]:
    """Read a cursor back, refusing anything that is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise BadCursor() from None
    if not isinstance(key, list) or len(key) != parts:
        raise BadCursor()
    return key


def _coerce(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    """Turn a cursor value back into the column's Python type."""
    python_type = column.type.python_type
    try:
        if python_type is datetime:
            return datetime.fromisoformat(str(value))
        if python_type is uuid.UUID:
            return uuid.UUID(str(value))
        if python_type is int:
            return int(value)
        return str(value)
    except (TypeError, ValueError):
        raise BadCursor() from None


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
