"""The HTTP side of idempotency: the Idempotency-Key header, and replaying answers as responses.

The rules live in service.idempotency.store, which GraphQL uses too; this module only reads
the header, fingerprints the HTTP request, and turns stored answers into responses.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.auth.dependencies import Authenticated
from service.database import SessionDep
from service.errors import Problem
from service.idempotency.store import IdempotentRequest, StoredAnswer, fingerprint

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


@dataclass(frozen=True, slots=True)
class Idempotency:
    """One HTTP write: `answer()` replays the stored answer, or does the work and keeps it."""

    request: IdempotentRequest

    async def answer(self, status_code: int, work: Work) -> Response:
        """Replay, or run `work(new_object_id)` and keep its answer under the key."""
        stored = await self.request.stored()
        if stored is not None:
            headers = {**stored.headers, REPLAY_HEADER: "true"}
            return Response(
                stored.body, status_code=stored.status_code, headers=headers, media_type=JSON
            )
        result = await work(self.request.new_id())
        reply = result if isinstance(result, Reply) else Reply(result)
        answer = StoredAnswer(status_code, reply.body.model_dump_json(), dict(reply.headers))
        await self.request.store(answer)
        return Response(
            answer.body, status_code=status_code, headers=dict(answer.headers), media_type=JSON
        )


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
    operation = f"{request.method} {request.url.path}"
    request_hash = fingerprint(operation, await request.body())
    return Idempotency(IdempotentRequest(session, caller.client_pk, key, request_hash))


async def required_guard(idempotency: Annotated[Idempotency, Depends(_guard)]) -> Idempotency:
    """The guard for writes that move money: the key is required."""
    if idempotency.request.key is None:
        raise MissingIdempotencyKey(
            f"Send an {KEY_HEADER} header (a new UUID per intended write) so a retry"
            " can never move money twice."
        )
    return idempotency


IdempotentWrite = Annotated[Idempotency, Depends(required_guard)]
OptionallyIdempotent = Annotated[Idempotency, Depends(_guard)]
