"""Announcing a budget change: a NOTIFY that PostgreSQL delivers when, and only if, it commits.

Every money movement goes through one statement (service.ledger.repository's batch), which
carries NOTIFY_COLUMN: the spend's hot path pays no extra round trip for it. The few
changes that move no money (a budget updated, a funder added, an indicative allocation or
its adjustment, an approval) call budget_changed(). PostgreSQL sends one notification per
transaction for the same channel and payload, however often it was asked.

The payload is the budget id and nothing else: no amount, no person, no agency. A
listener re-reads the budget through the service, with its own caller's reach.
"""

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.sql import Statement

# One channel for every budget: one LISTEN per process, which picks subscribers by payload.
CHANNEL = "onebudget_budget_changed"

# A select-list column for a statement that binds :budget_id (pg_notify returns void, so
# the column is NULL). It must sit in the statement's main SELECT: PostgreSQL evaluates a
# plain SELECT in a WITH only as far as the main query reads it.
NOTIFY_COLUMN = f"pg_notify('{CHANNEL}', CAST(CAST(:budget_id AS uuid) AS text)) AS notified"

_NOTIFY = Statement.of(text(f"SELECT {NOTIFY_COLUMN}"))


async def budget_changed(session: AsyncSession, *, budget_id: uuid.UUID) -> None:
    """Announce, when the session's transaction commits, that the budget changed."""
    await _NOTIFY.fetch(session, {"budget_id": budget_id})
