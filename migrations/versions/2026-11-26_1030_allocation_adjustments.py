"""Allocation adjustments: an amended or withdrawn award tops up or takes back, never edits.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A withdrawn award leaves its allocation at zero.
    op.drop_constraint(op.f("ck_allocation_amount_positive"), "allocation", type_="check")
    op.create_check_constraint(
        op.f("ck_allocation_amount_not_negative"), "allocation", "amount >= 0"
    )
    op.create_table(
        "allocation_adjustment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("requested_amount", sa.BigInteger(), nullable=False),
        sa.Column("applied_amount", sa.BigInteger(), nullable=False),
        sa.Column("unmet_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_after", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "unmet_amount >= 0", name=op.f("ck_allocation_adjustment_unmet_not_negative")
        ),
        sa.CheckConstraint(
            "amount_after >= 0", name=op.f("ck_allocation_adjustment_amount_after_not_negative")
        ),
        sa.CheckConstraint(
            "requested_amount = applied_amount - unmet_amount",
            name=op.f("ck_allocation_adjustment_requested_applied_unmet"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocation.id"],
            name=op.f("fk_allocation_adjustment_allocation_id_allocation"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer.id"],
            name=op.f("fk_allocation_adjustment_transfer_id_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_adjustment")),
    )
    op.create_index(
        op.f("ix_allocation_adjustment_allocation_id"),
        "allocation_adjustment",
        ["allocation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_allocation_adjustment_allocation_id"), table_name="allocation_adjustment"
    )
    op.drop_table("allocation_adjustment")
    op.drop_constraint(op.f("ck_allocation_amount_not_negative"), "allocation", type_="check")
    op.create_check_constraint(op.f("ck_allocation_amount_positive"), "allocation", "amount > 0")
