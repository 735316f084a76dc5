"""Idempotency answers found by age, so the purge of expired ones reads only those.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_idempotency_record_created_at"


def upgrade() -> None:
    # Concurrently (outside the migration's transaction): a database that kept every answer
    # before answers were purged may hold millions, and every write that moves money
    # inserts one; a plain CREATE INDEX would hold those writes until it is built.
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # left invalid by a failed try
        op.create_index(
            INDEX, "idempotency_record", ["created_at"], unique=False, postgresql_concurrently=True
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="idempotency_record", postgresql_concurrently=True)
