"""The HTTP side of idempotency: the Idempotency-Key header, and replaying answers as responses.

The rules live in service.idempotency.store, which GraphQL uses too; this module only reads
the header, fingerprints the HTTP request, and turns stored answers into responses.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.caller import Caller
from service.auth.dependencies import REQUIRED_SCOPE, Authenticated, verified_caller
from service.database import SessionDep, request_session
from service.errors import Problem
from service.idempotency.store import (
    KEY_MAX_LENGTH,
    KEY_PATTERN,
    AlreadyAnswered,
    IdempotentRequest,
    Keeper,
    StoredAnswer,
    fingerprint,
)
from service.policy import require_scope

JSON = "application/json"
KEY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"


class MissingIdempotencyKey(Problem):
    """A write that moves money came without an Idempotency-Key."""

    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key required"


@dataclass(frozen=True, slots=True)
class Reply:
    """What an endpoint answers: a body and any headers (an ETag) to keep with it."""

    body: BaseModel
    headers: Mapping[str, str] = field(default_factory=dict)


Work = Callable[[uuid.UUID], Awaitable[BaseModel | Reply]]
KeptWork = Callable[[uuid.UUID, Keeper], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Idempotency:
    """One HTTP write: `answer()` replays the stored answer, or does the work and keeps it."""

    request: IdempotentRequest

    async def answer(self, status_code: int, work: Work) -> Response:
        """Replay, or run `work(new_object_id)` and keep its answer under the key."""
        stored = await self.request.stored()
        if stored is not None:
            return _replay(stored)
        result = await work(self.request.new_id())
        reply = result if isinstance(result, Reply) else Reply(result)
        answer = StoredAnswer(status_code, reply.body.model_dump_json(), dict(reply.headers))
        await self.request.store(answer)
        return _send(answer)

    async def answer_kept(
        self, status_code: int, shape: type[BaseModel], work: KeptWork
    ) -> Response:
        """Like answer(), for work that claims the key and keeps the answer in its own
        statements (two round trips fewer): `work(new_object_id, keeper)`, whose result the
        keeper renders as `shape`."""

        def render(result: object) -> StoredAnswer:
            return StoredAnswer(status_code, shape.model_validate(result).model_dump_json())

        keeper = Keeper(self.request, render)
        try:
            await work(self.request.new_id(), keeper)
        except AlreadyAnswered as replay:
            return _replay(replay.answer)
        if keeper.answer is None:
            raise RuntimeError("the work did not keep its answer")
        return _send(keeper.answer)


def _send(answer: StoredAnswer) -> Response:
    return Response(
        answer.body,
        status_code=answer.status_code,
        headers=dict(answer.headers),
        media_type=JSON,
    )


def _replay(stored: StoredAnswer) -> Response:
    return _send(replace(stored, headers={**stored.headers, REPLAY_HEADER: "true"}))


KeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=KEY_PATTERN,
        description="A unique key per intended write (a UUID is good); retries reuse it.",
    ),
]


async def _guard(
    request: Request, session: SessionDep, caller: Authenticated, key: KeyHeader = None
) -> Idempotency:
    operation = f"{request.method} {request.url.path}"
    request_hash = fingerprint(operation, await request.body())
    return Idempotency(IdempotentRequest(session, caller.client_pk, key, request_hash))


def _with_key(idempotency: Idempotency) -> Idempotency:
    """The guard for writes that move money: the key is required."""
    if idempotency.request.key is None:
        raise MissingIdempotencyKey(
            f"Send an {KEY_HEADER} header (a new UUID per intended write) so a retry"
            " can never move money twice."
        )
    return idempotency


async def required_guard(idempotency: Annotated[Idempotency, Depends(_guard)]) -> Idempotency:
    return _with_key(idempotency)


# Marks the dependencies that require the Idempotency-Key, for the OpenAPI document.
KEY_REQUIRED = "idempotency_key_required"
setattr(required_guard, KEY_REQUIRED, True)  # noqa: B010


@dataclass(frozen=True, slots=True)
class KeptWrite:
    """A write whose work checks its client and claims its key in its own first statement."""

    caller: Caller  # verified, with the route's scope; its client not yet checked
    session: AsyncSession  # the request's, committed when the endpoint returns
    idempotency: Idempotency


# Marks kept_write's dependencies, for tests/api/test_revocation_everywhere.py.
CHECKS_CLIENT_IN_ITS_WORK = "checks_client_in_its_work"


_session_of = asynccontextmanager(request_session)


def kept_write(scope: str) -> Callable[..., AsyncIterator[KeptWrite]]:
    """The one dependency of the hottest writes (a spend, a commitment), whose work runs under
    answer_kept: its first statement checks the client and claims the key, one round trip
    fewer than checking on the way in.

    The token, the scope, the key and the request's session come from this one dependency
    rather than four: FastAPI's own cost per dependency was about 3% of a spend's
    instructions (README.md, "Benchmark"). Use it with scope="function", like SessionDep:
    the session commits before the response is sent. A token or a scope refused opens no
    session at all.
    """

    async def kept_guard(request: Request, key: KeyHeader = None) -> AsyncIterator[KeptWrite]:
        caller = await verified_caller(request)
        require_scope(caller, scope)
        async with _session_of(request) as session:
            idempotency = _with_key(await _guard(request, session, caller, key))
            yield KeptWrite(caller, session, idempotency)

    setattr(kept_guard, REQUIRED_SCOPE, scope)  # noqa: B010
    setattr(kept_guard, KEY_REQUIRED, True)  # noqa: B010
    setattr(kept_guard, CHECKS_CLIENT_IN_ITS_WORK, True)  # noqa: B010
    return kept_guard


IdempotentWrite = Annotated[Idempotency, Depends(required_guard)]
OptionallyIdempotent = Annotated[Idempotency, Depends(_guard)]
