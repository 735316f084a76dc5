"""The schema comes only from migrations, and the models agree with them."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from service.database import make_engine
from service.jobs.schema import described_by_models
from service.models import METADATA


def _diff(connection: Connection) -> list[object]:
    opts = {"compare_server_default": True, "include_name": described_by_models}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, METADATA))


async def test_autogenerate_finds_no_difference(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_transfers_cannot_be_updated_or_deleted(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        for statement in (
            "UPDATE transfer SET amount = 1",
            "DELETE FROM transfer",
            "TRUNCATE transfer CASCADE",
        ):
            async with engine.begin() as connection:
                # An empty table fires statement-level triggers only: seed one row first.
                await connection.execute(text(_SEED))
                with pytest.raises(DBAPIError, match="immutable"):
                    await connection.execute(text(statement))
                await connection.rollback()
    finally:
        await engine.dispose()
    await asyncio.sleep(0)


_SEED = """
WITH a AS (INSERT INTO agency (id, name, kind) VALUES (gen_random_uuid(), 'A', 'council') RETURNING id),
p AS (INSERT INTO person (id, reference, name, date_of_birth, registered_by_agency_id, version)
      SELECT gen_random_uuid(), 'R', 'N', '1980-01-01', id, 1 FROM a RETURNING id, registered_by_agency_id),
b AS (INSERT INTO budget (id, person_id, lead_agency_id, starts_on, ends_on, currency, deployment, version)
      SELECT gen_random_uuid(), id, registered_by_agency_id, '2026-04-01', '2027-03-31', 'GBP', 'managed', 1
      FROM p RETURNING id, lead_agency_id),
s AS (INSERT INTO funding_stream (id, agency_id, name, kind, unspent, version)
      SELECT gen_random_uuid(), lead_agency_id, 'S', 'other', 'return', 1 FROM b RETURNING id),
acc AS (INSERT INTO account (budget_id, stream_id, kind, currency, debits_pending, debits_posted,
                             credits_pending, credits_posted)
        SELECT b.id, s.id, k, 'GBP', 0, 0, 0, 0 FROM b, s, unnest(ARRAY['contribution', 'pot']) k
        RETURNING id, budget_id, kind)
INSERT INTO transfer (id, budget_id, debit_account_id, credit_account_id, amount, kind, code, batch_id)
SELECT gen_random_uuid(), c.budget_id, c.id, p.id, 1, 'posted', 'seed', gen_random_uuid()
FROM acc c JOIN acc p ON p.kind = 'pot' WHERE c.kind = 'contribution'
"""
