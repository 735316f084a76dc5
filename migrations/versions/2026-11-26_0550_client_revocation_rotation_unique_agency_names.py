"""Clients can be revoked and their secrets rotated; agency names are unique, ignoring case.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "oauth_client", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "oauth_client", sa.Column("previous_secret_hash", sa.String(length=128), nullable=True)
    )
    op.add_column(
        "oauth_client",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Fails, naming the duplicates, if a database already holds two agencies whose names
    # differ only in case: rename one first (UPDATE agency SET name = ...).
    op.create_index("uq_agency_lower_name", "agency", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_agency_lower_name", table_name="agency")
    op.drop_column("oauth_client", "previous_secret_expires_at")
    op.drop_column("oauth_client", "previous_secret_hash")
    op.drop_column("oauth_client", "revoked_at")
