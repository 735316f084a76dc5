"""Putting a job on the queue inside the caller's transaction: it exists only if that commits.

The job is written by pgqueuer's own enqueue statement, run on the asyncpg connection under
the session (service.sql.driver_connection), so it commits or rolls back with the change
that asked for it. A job's payload is a small JSON object of ids, never personal data.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pgqueuer import AsyncpgDriver, Queries
from sqlalchemy.ext.asyncio import AsyncSession

from service.sql import driver_connection


async def enqueue(
    session: AsyncSession,
    kind: str,
    payloads: Sequence[Mapping[str, Any]],
    *,
    delay: timedelta | None = None,
    dedupe_keys: Sequence[str] | None = None,
) -> None:
    """Queue one job of `kind` per payload, to run after `delay`, in one round trip.

    With `dedupe_keys`, a job whose key names a job still queued or running is skipped.
    """
    if not payloads:
        return
    queries = Queries(AsyncpgDriver(await driver_connection(session)))
    count = len(payloads)
    await queries.enqueue(
        [kind] * count,
        [json.dumps(payload).encode() for payload in payloads],
        [0] * count,
        [delay] * count,
        list(dedupe_keys) if dedupe_keys is not None else None,
        on_conflict="skip",
    )


def payload_of(raw: bytes | None) -> dict[str, Any]:
    """A job's payload as enqueue() wrote it."""
    decoded: dict[str, Any] = json.loads(raw or b"{}")
    return decoded
