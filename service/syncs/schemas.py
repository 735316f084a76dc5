"""What /v1 shows of syncs and dead letters."""

import uuid
from datetime import datetime

from service.api.fields import ResponseModel


class SyncRunOut(ResponseModel):
    """One sync of an agency's system, with what it found and did."""

    id: uuid.UUID
    status: str  # running, succeeded, failed
    fetched: int
    created: int
    unchanged: int
    adjusted: int
    confirmed: int
    dead_lettered: int
    replayed: int
    pushed: int
    push_rejected: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class DeadLetterOut(ResponseModel):
    """A record from the agency's system that could not be used, with why."""

    id: uuid.UUID
    reference: str | None
    version: int | None
    reason: str
    raw_payload: str
    sync_run_id: uuid.UUID | None
    replay_requested_at: datetime | None
    replayed_at: datetime | None
    replay_outcome: str | None
    created_at: datetime
