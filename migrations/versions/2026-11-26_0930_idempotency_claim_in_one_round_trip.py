"""Idempotency claim in one round trip: take the key's lock, then read its stored answer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:30:00

Taking the transaction-scoped advisory lock on (client, key) and reading the stored answer
used to be two statements, so that the read saw anything committed before the lock was
granted. A VOLATILE PL/pgSQL function gives the same guarantee in one: each query inside it
takes a fresh snapshot (READ COMMITTED), so its SELECT runs after the lock is held.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION idempotency_claim(p_client uuid, p_key text)
        RETURNS TABLE (locked boolean, request_hash varchar, status_code integer, body text,
                       headers jsonb)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            locked := pg_try_advisory_xact_lock(hashtextextended(p_client::text || ':' || p_key, 0));
            IF locked THEN
                SELECT r.request_hash, r.status_code, r.body, r.headers
                INTO request_hash, status_code, body, headers
                FROM idempotency_record AS r
                WHERE r.client_id = p_client AND r.key = p_key;
            END IF;
            RETURN NEXT;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION idempotency_claim(uuid, text)")
