"""The outbox: webhook messages written in the transaction of the change they tell of.

Every money movement carries OUTBOX_CTE in its one batch statement (service.ledger.repository),
as it carries its NOTIFY: a spend pays no extra round trip for it. The CTE writes one
message per (event, endpoint) for the enabled endpoints of the agencies that reach the
budget (its lead and funders) and subscribe to the event's type. With no such endpoint it
writes nothing, and costs an index probe of webhook_endpoint by agency.

When it did write, the statement returns the endpoints it wrote for, and queue_deliveries
enqueues their delivery jobs in the same transaction (one more round trip, only then): a
committed message always has a job on its way, and a rolled-back change leaves neither.
Changes that move no money call publish(), which does both in its own statements.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs.enqueue import enqueue
from service.ledger.clock import recorded_time
from service.sql import Statement, json_rows
from service.webhooks.events import Event

# Binds :budget_id, :recorded_at (None: now) and the events as JSON rows (outbox_params).
OUTBOX_CTE = """
    outboxed AS (
        INSERT INTO webhook_message (endpoint_id, budget_id, event_id, event_type, data,
                                     created_at)
        SELECT e.id, :budget_id, m.event_id, m.event_type, m.data,
               COALESCE(CAST(:recorded_at AS timestamptz), now())
        FROM ROWS FROM (jsonb_to_recordset(CAST(:events AS jsonb))
                        AS (event_id uuid, event_type text, data jsonb)) WITH ORDINALITY
             AS m(event_id, event_type, data, position)
        JOIN webhook_endpoint AS e
          ON e.disabled_at IS NULL AND (e.events IS NULL OR m.event_type = ANY(e.events))
        WHERE e.agency_id IN (SELECT b.lead_agency_id FROM budget AS b WHERE b.id = :budget_id
                              UNION ALL
                              SELECT f.agency_id FROM budget_funder AS f
                              WHERE f.budget_id = :budget_id)
        ORDER BY m.position, e.id
        RETURNING endpoint_id
    )"""
# A select-list column of the same statement: the endpoints it wrote messages for.
OUTBOX_COLUMN = "ARRAY(SELECT DISTINCT endpoint_id FROM outboxed) AS webhook_endpoints"

_PUBLISH = Statement.of(text(f"WITH {OUTBOX_CTE} SELECT {OUTBOX_COLUMN}"))

# The job that delivers one endpoint's messages of one budget, in order.
DELIVER = "deliver_webhooks"


def outbox_params(events: Sequence[Event]) -> dict[str, str]:
    """OUTBOX_CTE's events, as JSON rows (in order: the messages keep it)."""
    rows = ({"event_id": e.id, "event_type": e.type, "data": e.data} for e in events)
    return {"events": json_rows(rows)}


NO_EVENTS = outbox_params(())


async def queue_deliveries(
    session: AsyncSession, *, budget_id: uuid.UUID, endpoint_ids: Sequence[uuid.UUID] | None
) -> None:
    """Enqueue, in the session's transaction, a delivery job per endpoint written for."""
    await enqueue(session, DELIVER, [stream(e, budget_id) for e in endpoint_ids or ()])


def stream(endpoint_id: uuid.UUID, budget_id: uuid.UUID) -> dict[str, str]:
    """A delivery job's payload: which endpoint's messages of which budget."""
    return {"endpoint_id": str(endpoint_id), "budget_id": str(budget_id)}


async def publish(session: AsyncSession, *, budget_id: uuid.UUID, events: Sequence[Event]) -> None:
    """Write the events' messages for a change that moves no money, and queue their jobs."""
    if not events:
        return
    params = {
        "budget_id": budget_id,
        "recorded_at": recorded_time(session),
        **outbox_params(events),
    }
    endpoint_ids = await _PUBLISH.fetchval(session, params)
    await queue_deliveries(session, budget_id=budget_id, endpoint_ids=endpoint_ids)
