"""Partner webhooks: endpoints, the outbox of messages to send them, and every attempt.

Plain SQLAlchemy (sharing the one MetaData), like the ledger: the outbox is written by a CTE
of the ledger's batch statement, built from these columns.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.domain.vocabulary import EventType, sql_in
from service.models_base import Base


def _now() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class WebhookEndpoint(Base):
    """A URL of an agency's system that is told of changes to the budgets the agency reaches.

    `events` NULL means every event type, those added later included. The secret signs
    every message (Standard Webhooks, HMAC-SHA256): it must be kept to sign, so it is
    stored as given out, shown once, and never logged or listed.
    """

    __tablename__ = "webhook_endpoint"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str] | None] = mapped_column(ARRAY(String(40)))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    # Set when the endpoint answered 410 Gone: nothing more is written for it or sent to it.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class WebhookMessage(Base):
    """One event for one endpoint, written in the transaction of the change (the outbox).

    Messages of one (endpoint, budget) go out in `seq` order, one at a time: the oldest
    undelivered one blocks the rest of its budget until it is delivered.
    """

    __tablename__ = "webhook_message"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint(sql_in("event_type", EventType), name="event_type"),
        # The head of each endpoint's budget streams: the undelivered, oldest first.
        Index(
            "ix_webhook_message_undelivered",
            "endpoint_id",
            "budget_id",
            "seq",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budget.id"))
    event_id: Mapped[uuid.UUID]  # the webhook-id: the same for every endpoint and attempt
    event_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = _now()
    # A worker sending it holds it until then (past it, a crashed worker's claim is void).
    leased_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One try at delivering a message: the delivery log partners read (with the message's
    event and budget, so a page of the log is one index scan)."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (
        Index("ix_webhook_attempt_endpoint_id_started_at", "endpoint_id", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    message_seq: Mapped[int] = mapped_column(
        ForeignKey("webhook_message.seq", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(40))
    budget_id: Mapped[uuid.UUID]
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    delivered: Mapped[bool]
