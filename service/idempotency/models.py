"""Stored answers to writes, so a retried request replays instead of acting twice."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at


class IdempotencyRecord(Base):
    """The first response to (client, key), with a hash of the request that produced it."""

    __tablename__ = "idempotency_record"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_client.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # The exact bytes first sent, as text: JSONB would reorder keys, and a replay must be
    # byte-for-byte the first answer.
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at()
