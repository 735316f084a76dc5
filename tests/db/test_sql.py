"""Prepared hot-path statements (service.sql) run inside the session's own transaction.

They go straight to the asyncpg connection under a SQLAlchemy session, so these tests pin
what that relies on: the session's transaction is begun first, and a raw write commits and
rolls back with everything else the session did.
"""

import uuid

import asyncpg
import pytest
from sqlalchemy import column, select, text

from service.database import make_engine, make_sessionmaker
from service.ops.unavailable import is_database_unavailable
from service.sql import ConnectionLost, Statement

pytestmark = pytest.mark.own_database

_INSERT = Statement.of(
    text("INSERT INTO agency (id, name, kind) VALUES (:id, :name, 'council') RETURNING id")
)
_COUNT = "SELECT count(*) FROM agency WHERE id = :id"


async def _count(database_url: str, agency_id: uuid.UUID) -> int:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(text(_COUNT), {"id": agency_id})
            return int(found or 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("first", ["raw statement", "orm statement"])
async def test_a_raw_write_rolls_back_with_its_session(database_url: str, first: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    agency_id = uuid.uuid4()
    try:
        async with make_sessionmaker(engine)() as session:
            if first == "orm statement":
                await session.execute(text("SELECT 1"))
            await _INSERT.fetchval(session, {"id": agency_id, "name": f"Raw {agency_id}"})
            assert await session.scalar(text(_COUNT), {"id": agency_id}) == 1
            await session.rollback()
    finally:
        await engine.dispose()
    assert await _count(database_url, agency_id) == 0


async def test_a_raw_write_commits_with_its_session(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    agency_id = uuid.uuid4()
    try:
        async with make_sessionmaker(engine)() as session:
            await _INSERT.fetchval(session, {"id": agency_id, "name": f"Raw {agency_id}"})
            await session.commit()
    finally:
        await engine.dispose()
    assert await _count(database_url, agency_id) == 1


def test_an_expanding_in_is_refused_at_build_time() -> None:
    with pytest.raises(ValueError, match="expanding IN"):
        Statement.of(select(column("x")).where(column("x").in_([1, 2])))


async def test_a_session_s_next_transaction_gets_its_own_begun_connection(
    database_url: str,
) -> None:
    engine = make_engine(database_url, pool_size=2)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    try:
        async with make_sessionmaker(engine)() as session:
            await _INSERT.fetchval(session, {"id": kept, "name": f"Raw {kept}"})
            await session.commit()
            # The connection went back to the pool; the next write must begin anew.
            await _INSERT.fetchval(session, {"id": dropped, "name": f"Raw {dropped}"})
            await session.rollback()
    finally:
        await engine.dispose()
    assert await _count(database_url, kept) == 1
    assert await _count(database_url, dropped) == 0


async def test_a_connection_killed_under_the_session_is_dropped_from_the_pool(
    database_url: str,
) -> None:
    # Statements sent straight to the driver bypass SQLAlchemy's disconnect handling, so
    # service.sql tells the pool itself; else the dead connection would be handed out again.
    backend = Statement.of(text("SELECT pg_backend_pid()"))
    engine = make_engine(database_url, pool_size=1)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            pid = await backend.fetchval(session, {})
            await session.commit()
        killer = await asyncpg.connect(database_url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        with pytest.raises(ConnectionLost) as lost:
            async with sessions() as session:
                await backend.fetchval(session, {})
        assert is_database_unavailable(lost.value)  # answered 503, not 500
        async with sessions() as session:
            assert await backend.fetchval(session, {}) != pid
    finally:
        await engine.dispose()
