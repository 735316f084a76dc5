"""What onebudget keeps about each agency's system: the connection, where its sync stands,
each award seen, what could not be used (dead letters) and what was reported back."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field

from service.domain.vocabulary import sql_in
from service.models_base import AWARE, Col, OneBudgetModel, Vocab, Vocabulary, created_at, uuid_pk
from service.syncs.vocabulary import AdapterKind, DeliveryStatus, RunStatus


class AgencyConnection(OneBudgetModel, table=True):
    """One agency bound to its own system: which adapter speaks to it, where, and how far
    its sync has read. Credentials are never stored here: only where to read them."""

    __tablename__ = "agency_connection"
    __table_args__ = (CheckConstraint(sql_in("adapter", AdapterKind), name="adapter"),)

    id: Col[uuid.UUID] = uuid_pk()
    agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", unique=True)
    adapter: Vocab[AdapterKind] = Field(sa_type=Vocabulary(AdapterKind, 20))
    url: Col[str] = Field(sa_type=String(500))
    # A path to a secrets file (JSON, mode 0600), or None: the settings' credentials file.
    credentials_file: Col[str | None] = Field(default=None, sa_type=String(500))
    # The agency's stream its awards are allocated from.
    stream_id: Col[uuid.UUID] = Field(foreign_key="funding_stream.id")
    cursor: Col[str | None] = Field(default=None, sa_type=Text)
    created_at: Col[datetime] = created_at()
    updated_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)


class AgencyAward(OneBudgetModel, table=True):
    """The latest version of an award applied from an agency's system: an older or repeated
    version seen later changes nothing, and an award stays on the budget it first landed on."""

    __tablename__ = "agency_award"

    connection_id: Col[uuid.UUID] = Field(foreign_key="agency_connection.id", primary_key=True)
    reference: Col[str] = Field(sa_type=String(100), primary_key=True)
    version: Col[int] = Field(sa_type=BigInteger)
    # None for an award withdrawn before onebudget ever allocated it.
    budget_id: Col[uuid.UUID | None] = Field(default=None, foreign_key="budget.id")
    allocation_id: Col[uuid.UUID | None] = Field(default=None, foreign_key="allocation.id")
    amount: Col[int] = Field(sa_type=BigInteger)
    status: Col[str] = Field(sa_type=String(20))
    updated_at: Col[datetime] = created_at()


class SyncRun(OneBudgetModel, table=True):
    """One sync of one connection, with what it found and did."""

    __tablename__ = "sync_run"
    __table_args__ = (
        CheckConstraint(sql_in("status", RunStatus), name="status"),
        Index("ix_sync_run_connection_id_started_at", "connection_id", "started_at"),
    )

    id: Col[uuid.UUID] = uuid_pk()
    connection_id: Col[uuid.UUID] = Field(foreign_key="agency_connection.id")
    status: Vocab[RunStatus] = Field(default=RunStatus.RUNNING, sa_type=Vocabulary(RunStatus, 20))
    fetched: Col[int] = Field(default=0, sa_type=Integer)
    created: Col[int] = Field(default=0, sa_type=Integer)
    unchanged: Col[int] = Field(default=0, sa_type=Integer)
    adjusted: Col[int] = Field(default=0, sa_type=Integer)
    confirmed: Col[int] = Field(default=0, sa_type=Integer)
    dead_lettered: Col[int] = Field(default=0, sa_type=Integer)
    replayed: Col[int] = Field(default=0, sa_type=Integer)
    pushed: Col[int] = Field(default=0, sa_type=Integer)
    push_rejected: Col[int] = Field(default=0, sa_type=Integer)
    error: Col[str | None] = Field(default=None, sa_type=String(1000))
    started_at: Col[datetime] = created_at()
    finished_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)


class DeadLetter(OneBudgetModel, table=True):
    """A record from an agency's system that could not be used, kept whole with the reason,
    to replay once the cause is fixed (the record whole again, the person known)."""

    __tablename__ = "dead_letter"
    __table_args__ = (
        Index("ix_dead_letter_connection_id_created_at", "connection_id", "created_at"),
    )

    id: Col[uuid.UUID] = uuid_pk()
    connection_id: Col[uuid.UUID] = Field(foreign_key="agency_connection.id")
    sync_run_id: Col[uuid.UUID | None] = Field(default=None, foreign_key="sync_run.id")
    reference: Col[str | None] = Field(default=None, sa_type=String(100))
    version: Col[int | None] = Field(default=None, sa_type=BigInteger)
    reason: Col[str] = Field(sa_type=String(1000))
    raw_payload: Col[str] = Field(sa_type=Text)
    # Where the record was read (the page's cursor), to read it again from the agency.
    cursor: Col[str | None] = Field(default=None, sa_type=Text)
    replay_requested_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    replayed_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    replay_outcome: Col[str | None] = Field(default=None, sa_type=String(1000))
    created_at: Col[datetime] = created_at()


class InboundMessage(OneBudgetModel, table=True):
    """A message an agency pushed (a webhook), by its id: the same id again is a duplicate."""

    __tablename__ = "inbound_message"

    connection_id: Col[uuid.UUID] = Field(foreign_key="agency_connection.id", primary_key=True)
    message_id: Col[str] = Field(sa_type=String(200), primary_key=True)
    created_at: Col[datetime] = created_at()


class OutboundDelivery(OneBudgetModel, table=True):
    """A spend line reported to the agency whose stream paid it, under a delivery id the
    agency de-duplicates on: sent again after a lost answer, it is still one report there."""

    __tablename__ = "outbound_delivery"
    __table_args__ = (
        CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
        UniqueConstraint("connection_id", "spend_id", "position"),
    )

    id: Col[uuid.UUID] = Field(primary_key=True)  # the delivery id the agency sees
    connection_id: Col[uuid.UUID] = Field(foreign_key="agency_connection.id")
    spend_id: Col[uuid.UUID] = Field(foreign_key="spend.id")
    position: Col[int] = Field(sa_type=Integer)
    status: Vocab[DeliveryStatus] = Field(sa_type=Vocabulary(DeliveryStatus, 20))
    receipt: Col[str | None] = Field(default=None, sa_type=String(200))
    reason: Col[str | None] = Field(default=None, sa_type=String(1000))
    created_at: Col[datetime] = created_at()
