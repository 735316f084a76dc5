"""Stored answers to writes, so a retried request replays instead of acting twice."""

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from service.models_base import Col, OneBudgetModel, created_at


class IdempotencyRecord(OneBudgetModel, table=True):
    """The first response to (client, key), with a hash of the request that produced it."""

    __tablename__ = "idempotency_record"
    # The purge finds answers past their retention by age (service.idempotency.purge).
    __table_args__ = (Index("ix_idempotency_record_created_at", "created_at"),)

    client_id: Col[uuid.UUID] = Field(foreign_key="oauth_client.id", primary_key=True)
    key: Col[str] = Field(sa_type=String(255), primary_key=True)
    request_hash: Col[str] = Field(sa_type=String(64))
    status_code: Col[int]
    # The exact bytes first sent, as text: JSONB would reorder keys, and a replay must be
    # byte-for-byte the first answer.
    body: Col[str] = Field(sa_type=Text)
    headers: Col[dict[str, str]] = Field(sa_type=JSONB)
    created_at: Col[datetime] = created_at()
