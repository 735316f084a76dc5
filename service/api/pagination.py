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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from service.domain.errors import BadCursor

T = TypeVar("T")
M = TypeVar("M")
U = TypeVar("U")

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


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """One page of a list: its items, each with the sort key its cursor seals, and whether
    more follow. Cursors are sealed only when asked for (a GraphQL edge's `cursor`)."""

    items: list[T]
    keys: list[tuple[Any, ...]]
    more: bool

    def cursor(self, index: int) -> str:
        """The cursor just after item `index`: pass it back to read on from there."""
        return encode_cursor(*self.keys[index])

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, None on the last one."""
        return self.cursor(len(self.items) - 1) if self.more else None

    def map(self, convert: Callable[[list[T]], list[U]]) -> "Slice[U]":
        """The same page with its items converted (one for one, in order)."""
        return Slice(convert(self.items), self.keys, self.more)


def _after(cursor: str, order: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    """A cursor's sort key, as the order columns' Python values."""
    parts = decode_cursor(cursor, parts=len(order))
    return [_coerce(v, col) for v, col in zip(parts, order, strict=True)]


def _sort_key(row: Any, order: Sequence[InstrumentedAttribute[Any]]) -> tuple[Any, ...]:
    return tuple(_cursor_value(getattr(row, col.key)) for col in order)


def _cut(rows: list[M], order: Sequence[InstrumentedAttribute[Any]], limit: int) -> Slice[M]:
    """The first `limit` rows (one more was read, to tell whether more follow)."""
    page = rows[:limit]
    return Slice(page, [_sort_key(row, order) for row in page], len(rows) > limit)


def _ordered(
    order: Sequence[InstrumentedAttribute[Any]], newest_first: bool
) -> list[ColumnElement[Any]]:
    return [col.desc() if newest_first else col.asc() for col in order]


async def paginate_slice(
    session: AsyncSession,
    query: Select[M],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> Slice[M]:
    """One keyset page of `query` ordered by `order` (unique together), after `cursor`."""
    if cursor is not None:
        key, bound = tuple_(*order), tuple_(*_after(cursor, order))
        query = query.where(key < bound if newest_first else key > bound)
    query = query.order_by(*_ordered(order, newest_first))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    return _cut(rows, order, limit)


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
    page = await paginate_slice(
        session, query, order=order, cursor=cursor, limit=limit, newest_first=newest_first
    )
    return page.items, page.next_cursor


async def paginate_each(
    session: AsyncSession,
    query: Select[M],
    *,
    owner: InstrumentedAttribute[Any],
    pages: Sequence[tuple[Any, str | None]],
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    newest_first: bool = False,
) -> list[Slice[M]]:
    """A page of `query` for each (owner, cursor), in one statement: e.g. the newest ten
    spends of each of fifty budgets. Each page is what paginate_slice would give for
    `query` narrowed to `owner == value`, so its cursors work there too."""
    if not pages:
        return []
    bounds = [None if cursor is None else _after(cursor, order) for _, cursor in pages]
    arrays = [bindparam("owners", [value for value, _ in pages], type_=ARRAY(owner.type))]
    arrays += [
        bindparam(f"after_{i}", [b[i] if b else None for b in bounds], type_=ARRAY(col.type))
        for i, col in enumerate(order)
    ]
    names = [f"after_{i}" for i in range(len(order))]
    wanted = (
        func.unnest(*arrays)
        .table_valued(
            column("owner", owner.type),
            *(column(name, col.type) for name, col in zip(names, order, strict=True)),
            with_ordinality="n",
        )
        .render_derived(name="wanted")
    )
    key, bound = tuple_(*order), tuple_(*(wanted.c[name] for name in names))
    page = (
        query.where(owner == wanted.c.owner)
        .where(or_(wanted.c[names[0]].is_(None), key < bound if newest_first else key > bound))
        .order_by(*_ordered(order, newest_first))
        .limit(limit + 1)
        .lateral("page")
    )
    entity = aliased(query.column_descriptions[0]["entity"], page)
    found = await session.execute(select(wanted.c.n, entity).select_from(wanted).join(page, true()))
    rows: list[list[M]] = [[] for _ in pages]
    for n, row in found:
        rows[n - 1].append(row)
    for each in rows:
        each.sort(key=lambda row: tuple(getattr(row, col.key) for col in order))
        if newest_first:
            each.reverse()
    return [_cut(each, order, limit) for each in rows]


def _cursor_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
