"""Idempotency answers kept byte for byte: text, not JSONB (which reorders keys).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:54:40.719358
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "idempotency_record",
        "body",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        type_=sa.Text(),
        existing_nullable=False,
        postgresql_using="body::text",
    )


def downgrade() -> None:
    op.alter_column(
        "idempotency_record",
        "body",
        existing_type=sa.Text(),
        type_=postgresql.JSONB(astext_type=sa.Text()),
        existing_nullable=False,
        postgresql_using="body::jsonb",
    )
