"""Agencies' own systems: connections with their cursor, the awards seen, sync runs, dead
letters, pushed messages seen, and spend lines delivered back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_connection",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("adapter", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("credentials_file", sa.String(length=500), nullable=True),
        sa.Column("stream_id", sa.Uuid(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "adapter IN ('council', 'housing', 'employment', 'equipment', 'health')",
            name=op.f("ck_agency_connection_adapter"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_connection_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["funding_stream.id"],
            name=op.f("fk_agency_connection_stream_id_funding_stream"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_connection")),
        sa.UniqueConstraint("agency_id", name=op.f("uq_agency_connection_agency_id")),
    )
    op.create_table(
        "inbound_message",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["agency_connection.id"],
            name=op.f("fk_inbound_message_connection_id_agency_connection"),
        ),
        sa.PrimaryKeyConstraint("connection_id", "message_id", name=op.f("pk_inbound_message")),
    )
    op.create_table(
        "sync_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("adjusted", sa.Integer(), nullable=False),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("dead_lettered", sa.Integer(), nullable=False),
        sa.Column("replayed", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("push_rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_run_status")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["agency_connection.id"],
            name=op.f("fk_sync_run_connection_id_agency_connection"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    op.create_index(
        "ix_sync_run_connection_id_started_at",
        "sync_run",
        ["connection_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "agency_award",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("budget_id", sa.Uuid(), nullable=True),
        sa.Column("allocation_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocation.id"],
            name=op.f("fk_agency_award_allocation_id_allocation"),
        ),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budget.id"], name=op.f("fk_agency_award_budget_id_budget")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["agency_connection.id"],
            name=op.f("fk_agency_award_connection_id_agency_connection"),
        ),
        sa.PrimaryKeyConstraint("connection_id", "reference", name=op.f("pk_agency_award")),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("sync_run_id", sa.Uuid(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("raw_payload", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("replay_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_outcome", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["agency_connection.id"],
            name=op.f("fk_dead_letter_connection_id_agency_connection"),
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"], ["sync_run.id"], name=op.f("fk_dead_letter_sync_run_id_sync_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
    )
    op.create_index(
        "ix_dead_letter_connection_id_created_at",
        "dead_letter",
        ["connection_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "outbound_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("spend_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("receipt", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('accepted', 'duplicate', 'rejected')",
            name=op.f("ck_outbound_delivery_status"),
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["agency_connection.id"],
            name=op.f("fk_outbound_delivery_connection_id_agency_connection"),
        ),
        sa.ForeignKeyConstraint(
            ["spend_id"], ["spend.id"], name=op.f("fk_outbound_delivery_spend_id_spend")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_delivery")),
        sa.UniqueConstraint(
            "connection_id",
            "spend_id",
            "position",
            name=op.f("uq_outbound_delivery_connection_id_spend_id_position"),
        ),
    )


def downgrade() -> None:
    op.drop_table("outbound_delivery")
    op.drop_index("ix_dead_letter_connection_id_created_at", table_name="dead_letter")
    op.drop_table("dead_letter")
    op.drop_table("agency_award")
    op.drop_index("ix_sync_run_connection_id_started_at", table_name="sync_run")
    op.drop_table("sync_run")
    op.drop_table("inbound_message")
    op.drop_table("agency_connection")
