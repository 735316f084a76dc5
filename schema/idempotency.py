"""Idempotency keys for mutations, with REST's rules (service.idempotency.store).

The key is the mutation's `idempotencyKey`, scoped to the calling client like REST's header.
What is fingerprinted is the mutation's name and its arguments: the same key with other
arguments, or first used by another mutation (or a REST request), is refused
(`Refusal.code` "unprocessable"). What is kept is the first result's service view, as
JSON, so a retry answers that result again (id and all, as it was then) and does nothing.
A refusal keeps nothing, as in REST: it rolls back with its transaction.
"""

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter

from schema.context import Context
from service.domain.errors import InvalidInput
from service.idempotency.store import (
    KEY_MAX_LENGTH,
    KEY_PATTERN,
    AlreadyAnswered,
    IdempotentRequest,
    Keeper,
    StoredAnswer,
    fingerprint,
)

V = TypeVar("V")

_KEY = re.compile(KEY_PATTERN)


def _request(
    context: Context, *, key: str, mutation: str, arguments: Mapping[str, Any]
) -> IdempotentRequest:
    if len(key) > KEY_MAX_LENGTH or not _KEY.fullmatch(key):
        raise InvalidInput(
            f"idempotencyKey must be 1 to {KEY_MAX_LENGTH} printable ASCII characters"
            " without spaces (a new UUID per intended write is good).",
            errors=[{"field": "idempotencyKey", "message": "1 to 255 printable characters"}],
        )
    payload = json.dumps(arguments, sort_keys=True, default=str)
    request_hash = fingerprint(f"graphql {mutation}", payload)
    return IdempotentRequest(context.session, context.caller.client_pk, key, request_hash)


def _answer(adapter: TypeAdapter[V], result: V) -> StoredAnswer:
    return StoredAnswer(200, adapter.dump_json(result).decode())


async def once(
    context: Context,
    *,
    key: str | None,
    mutation: str,
    arguments: Mapping[str, Any],
    shape: type[V],
    work: Callable[[uuid.UUID], Awaitable[V]],
) -> V:
    """work(new object id) once under the key; a retry gets the first result back."""
    if key is None:
        return await work(uuid.uuid4())
    request = _request(context, key=key, mutation=mutation, arguments=arguments)
    adapter = TypeAdapter(shape)
    async with context.locked():
        stored = await request.stored()
    if stored is not None:
        return adapter.validate_json(stored.body)
    result = await work(request.new_id())
    async with context.locked():
        await request.store(_answer(adapter, result))
    return result


async def once_kept(
    context: Context,
    *,
    key: str,
    mutation: str,
    arguments: Mapping[str, Any],
    shape: type[V],
    work: Callable[[uuid.UUID, Keeper], Awaitable[V]],
) -> V:
    """once(), for work that claims the key and keeps the result in its own statements."""
    request = _request(context, key=key, mutation=mutation, arguments=arguments)
    adapter = TypeAdapter(shape)
    keeper = Keeper(request, lambda result: _answer(adapter, result))
    try:
        return await work(request.new_id(), keeper)
    except AlreadyAnswered as replay:
        return adapter.validate_json(replay.answer.body)
