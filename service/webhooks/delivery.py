"""Delivering the outbox: signed, one endpoint's messages of one budget at a time, in order.

A delivery job (service.webhooks.outbox.DELIVER) names an (endpoint, budget) stream. It
claims the stream's oldest undelivered message, if that is due and nobody holds it, sends
it, records the attempt, and goes on to the next, until the stream is empty or a message
fails. A failed message waits (exponential backoff with jitter, ONEBUDGET_WEBHOOK_RETRY_*)
and blocks the messages after it of the same budget for that endpoint only; recording the
failure queues the job that retries it, in the same transaction. A message is retried until
it is delivered (at least once; receivers de-duplicate by webhook-id), the endpoint answers
410 Gone (which disables it) or the endpoint is deleted.

Two jobs of one stream never send at once: the claim is a lease on the head message, and a
job that finds the head leased or not yet due leaves it to the job that holds or retries it.
A worker that dies mid-send leaves a lease that runs out, and pgqueuer hands its job to
another worker after its heartbeat stops; the sweep schedule re-queues any stream left due.
"""

import asyncio
import functools
import json
import logging
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from service.config import Settings
from service.jobs.context import WorkerContext
from service.jobs.enqueue import enqueue
from service.ops.background import backoff
from service.webhooks.addresses import RefusedUrl, target
from service.webhooks.outbox import DELIVER, stream

log = logging.getLogger(__name__)

# httpx logs every request's URL at INFO; a partner's URL may carry its own token, so its
# requests are logged by endpoint id only (below), never by URL.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "onebudget-webhooks/1"
GONE = 410

_CLAIM = text("""
    WITH head AS (
        SELECT seq FROM webhook_message
        WHERE endpoint_id = :endpoint_id AND budget_id = :budget_id AND delivered_at IS NULL
        ORDER BY seq
        LIMIT 1
    )
    UPDATE webhook_message AS m
    SET leased_until = now() + make_interval(secs => CAST(:lease_seconds AS float8)),
        attempts = m.attempts + 1
    FROM head, webhook_endpoint AS e
    WHERE m.seq = head.seq AND e.id = m.endpoint_id AND e.disabled_at IS NULL
      AND m.delivered_at IS NULL AND m.next_attempt_at <= now()
      AND (m.leased_until IS NULL OR m.leased_until < now())
    RETURNING m.seq, m.event_id, m.event_type, m.data, m.created_at, m.attempts, e.url, e.secret
""")

# The attempt goes in the log only if its message still exists (its endpoint not deleted).
_RECORD = text("""
    WITH settled AS (
        UPDATE webhook_message
        SET leased_until = NULL,
            delivered_at = CASE WHEN CAST(:delivered AS boolean) THEN now() END,
            next_attempt_at = now() + make_interval(secs => CAST(:retry_seconds AS float8))
        WHERE seq = :seq
        RETURNING seq, endpoint_id, event_id, event_type, budget_id
    )
    INSERT INTO webhook_attempt (endpoint_id, message_seq, event_id, event_type, budget_id,
                                 attempt, started_at, duration_ms, status_code, error, delivered)
    SELECT endpoint_id, seq, event_id, event_type, budget_id, CAST(:attempt AS integer),
           CAST(:started_at AS timestamptz), CAST(:duration_ms AS integer),
           CAST(:status_code AS integer), CAST(:error AS text), CAST(:delivered AS boolean)
    FROM settled
""")

_DISABLE = text("""
    UPDATE webhook_endpoint SET disabled_at = now(), disabled_reason = :reason
    WHERE id = :endpoint_id AND disabled_at IS NULL
""")

# Streams with a message due that nobody holds: their job may have been lost.
_DUE_STREAMS = text("""
    SELECT DISTINCT m.endpoint_id, m.budget_id
    FROM webhook_message AS m
    JOIN webhook_endpoint AS e ON e.id = m.endpoint_id AND e.disabled_at IS NULL
    WHERE m.delivered_at IS NULL AND m.next_attempt_at <= now()
      AND (m.leased_until IS NULL OR m.leased_until < now())
    LIMIT 1000
""")

_PURGE = text("""
    DELETE FROM webhook_message
    WHERE seq IN (SELECT seq FROM webhook_message
                  WHERE delivered_at < now() - make_interval(days => :days) LIMIT 5000)
""")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message this job holds the lease on, with its endpoint's URL and secret."""

    seq: int
    event_id: uuid.UUID
    event_type: str
    data: dict[str, Any]
    created_at: datetime
    attempt: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx answer: the endpoint has it."""
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings of every send, made once: a client left to make its own loads the CA
    bundle each time, about 20 ms of CPU, more than all the rest of a delivery."""
    return httpx.create_ssl_context(trust_env=False)


def body(claimed: Claimed) -> str:
    """The message's JSON body: the same bytes at every attempt."""
    moment = claimed.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document = {"type": claimed.event_type, "timestamp": moment, "data": claimed.data}
    return json.dumps(document, separators=(",", ":"))


def signed_headers(claimed: Claimed, content: str, *, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id, -timestamp and the v1 HMAC-SHA256 signature."""
    message_id = str(claimed.event_id)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(claimed.secret).sign(message_id, now, content),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


async def send(claimed: Claimed, settings: Settings) -> Outcome:
    """One signed POST to the endpoint's resolved address: no redirects, one deadline."""
    content = body(claimed)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    status_code, error = None, None
    timeout = settings.webhook_timeout_seconds
    networks = settings.webhook_allowed_networks
    try:
        async with asyncio.timeout(timeout):
            aimed = await target(claimed.url, networks=networks, timeout=timeout)
            headers = {**signed_headers(claimed, content, now=started_at), **aimed.headers}
            async with (
                httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls()
                ) as http,
                http.stream(
                    "POST",
                    aimed.url,
                    content=content.encode(),
                    headers=headers,
                    extensions=aimed.extensions,
                ) as answer,
            ):
                status_code = answer.status_code
    except RefusedUrl as refused:
        error = str(refused)
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as failed:
        error = f"{type(failed).__name__}: {failed}" if str(failed) else type(failed).__name__
    if status_code is not None and not 200 <= status_code < 300:
        error = f"answered {status_code}"
    elapsed = round((time.monotonic() - clock) * 1000)
    return Outcome(started_at, elapsed, status_code, None if error is None else error[:500])


async def _claim(
    session: AsyncSession, *, endpoint_id: uuid.UUID, budget_id: uuid.UUID, lease: float
) -> Claimed | None:
    """Lease the stream's head message if it is due and free; None if not."""
    params = {"endpoint_id": endpoint_id, "budget_id": budget_id, "lease_seconds": lease}
    row = (await session.execute(_CLAIM, params)).mappings().one_or_none()
    if row is None:
        return None
    return Claimed(
        seq=row["seq"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        data=row["data"],
        created_at=row["created_at"],
        attempt=row["attempts"],
        url=row["url"],
        secret=row["secret"],
    )


async def _record(
    session: AsyncSession,
    *,
    endpoint_id: uuid.UUID,
    budget_id: uuid.UUID,
    claimed: Claimed,
    outcome: Outcome,
    settings: Settings,
) -> float:
    """Log the attempt and settle the message; after a failure, queue the retry (or, on a
    410, disable the endpoint). The wait before the retry, in seconds (0 when delivered)."""
    retry_in = 0.0
    if not outcome.delivered and outcome.status_code != GONE:
        retry_in = backoff(
            claimed.attempt,
            first=settings.webhook_retry_first_seconds,
            cap=settings.webhook_retry_max_seconds,
        )
    await session.execute(
        _RECORD,
        {
            "seq": claimed.seq,
            "delivered": outcome.delivered,
            "retry_seconds": retry_in,
            "attempt": claimed.attempt,
            "started_at": outcome.started_at,
            "duration_ms": outcome.duration_ms,
            "status_code": outcome.status_code,
            "error": outcome.error,
        },
    )
    if outcome.status_code == GONE:
        reason = "The endpoint answered 410 Gone."
        await session.execute(_DISABLE, {"endpoint_id": endpoint_id, "reason": reason})
    elif retry_in:
        payload = stream(endpoint_id, budget_id)
        await enqueue(session, DELIVER, [payload], delay=timedelta(seconds=retry_in))
    return retry_in


async def deliver_stream(context: WorkerContext, payload: dict[str, Any]) -> None:
    """The delivery job: send the stream's due messages in order until one fails."""
    endpoint_id, budget_id = uuid.UUID(payload["endpoint_id"]), uuid.UUID(payload["budget_id"])
    settings = context.settings
    lease = settings.webhook_timeout_seconds + 5.0  # the send's deadline, and some
    while True:
        async with context.sessionmaker() as session, session.begin():
            claimed = await _claim(
                session, endpoint_id=endpoint_id, budget_id=budget_id, lease=lease
            )
        if claimed is None:
            return
        outcome = await send(claimed, settings)
        async with context.sessionmaker() as session, session.begin():
            retry_in = await _record(
                session,
                endpoint_id=endpoint_id,
                budget_id=budget_id,
                claimed=claimed,
                outcome=outcome,
                settings=settings,
            )
        facts = {
            "endpoint_id": str(endpoint_id),
            "event_id": str(claimed.event_id),
            "event_type": claimed.event_type,
            "attempt": claimed.attempt,
            "status_code": outcome.status_code,
            "ms": outcome.duration_ms,
        }
        if outcome.delivered:
            log.info("webhook delivered", extra=facts)
            continue
        if outcome.status_code == GONE:
            log.warning("webhook endpoint answered 410 Gone: disabled", extra=facts)
        else:
            log.warning(
                "webhook failed; will retry",
                extra={**facts, "error": outcome.error, "retry_in_s": round(retry_in, 3)},
            )
        return


async def sweep(context: WorkerContext) -> None:
    """Queue a job for every stream left due (its job lost), and purge old delivered messages."""
    async with context.sessionmaker() as session, session.begin():
        streams = (await session.execute(_DUE_STREAMS)).all()
        payloads = [stream(endpoint_id, budget_id) for endpoint_id, budget_id in streams]
        keys = [f"webhooks-sweep:{p['endpoint_id']}:{p['budget_id']}" for p in payloads]
        await enqueue(session, DELIVER, payloads, dedupe_keys=keys)
        purged = await session.execute(_PURGE, {"days": context.settings.webhook_retention_days})
    if payloads or purged.rowcount:  # type: ignore[attr-defined]
        log.info(
            "webhooks swept",
            extra={"requeued": len(payloads), "purged": purged.rowcount},  # type: ignore[attr-defined]
        )
