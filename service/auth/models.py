"""OAuth clients: a partner system's credentials, tied to one agency."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk


class OAuthClient(Base):
    """A confidential client; only a hash of its secret is kept."""

    __tablename__ = "oauth_client"

    id: Mapped[uuid.UUID] = uuid_pk()
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at()
    # Set once by `onebudget clients revoke`: no new tokens, and held tokens stop working.
    revoked_at: Mapped[datetime | None]
    # After a rotation the old secret keeps working until previous_secret_expires_at.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None]
