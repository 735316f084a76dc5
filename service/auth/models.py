"""OAuth clients: a partner system's credentials, tied to one agency."""

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field

from service.models_base import AWARE, Col, OneBudgetModel, created_at, uuid_pk


class OAuthClient(OneBudgetModel, table=True):
    """A confidential client; only a hash of its secret is kept."""

    __tablename__ = "oauth_client"

    id: Col[uuid.UUID] = uuid_pk()
    client_id: Col[str] = Field(sa_type=String(64), unique=True)
    secret_hash: Col[str] = Field(sa_type=String(128))
    agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", index=True)
    name: Col[str] = Field(sa_type=String(200))
    scope: Col[str] = Field(sa_type=String(1000))
    created_at: Col[datetime] = created_at()
    # Set once by `onebudget clients revoke`: no new tokens, and held tokens stop working.
    revoked_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
    # After a rotation the old secret keeps working until previous_secret_expires_at.
    previous_secret_hash: Col[str | None] = Field(default=None, sa_type=String(128))
    previous_secret_expires_at: Col[datetime | None] = Field(default=None, sa_type=AWARE)
