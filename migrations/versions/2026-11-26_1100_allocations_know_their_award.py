"""Allocations know the agency's award behind them, so an award seen twice adds nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_allocation_stream_id_award_reference"


def upgrade() -> None:
    op.add_column("allocation", sa.Column("award_reference", sa.String(length=100), nullable=True))
    op.add_column("allocation", sa.Column("award_amount", sa.BigInteger(), nullable=True))
    op.create_index(
        INDEX,
        "allocation",
        ["stream_id", "award_reference"],
        unique=True,
        postgresql_where=sa.text("award_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="allocation")
    op.drop_column("allocation", "award_amount")
    op.drop_column("allocation", "award_reference")
