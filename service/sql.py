"""Hot-path statements run as asyncpg prepared statements on the session's own connection.

A money-moving request runs a handful of prebuilt statements. Through the ORM session each
execute cost about 0.2 ms of Python (compiled-cache look-up, parameter processing, result
wrapping): more than the statement itself, and together over half of a spend's CPU. A
`Statement` is compiled once for asyncpg and then run on the driver connection underneath
the request's session, inside the session's transaction, so it commits or rolls back with
everything else the request did (and with a test's outer transaction).

Rows come back as asyncpg Records (`row["name"]`). The connection's codecs are the ones
SQLAlchemy's dialect installed: JSON parameters go in as JSON text, and come out decoded.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = cast(Callable[[], Dialect], PGDialect_asyncpg)()


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement compiled once: $n SQL, the parameter names in order, literal values."""

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]

    @classmethod
    def of(cls, clause: ClauseElement) -> "Statement":
        """Compile a Core statement (or text()); parameters with values keep them."""
        compiled = cast(SQLCompiler, clause.compile(dialect=_DIALECT))
        if "POSTCOMPILE" in str(compiled):
            # An expanding IN is rendered per execution; write it as `col == any_(array(...))`.
            raise ValueError(f"a prepared statement cannot hold an expanding IN: {compiled}")
        names = tuple(compiled.positiontup or ())
        constants = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name in names and not bind.required
        }
        return cls(str(compiled), names, constants)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional arguments from named ones (constants fill what is not given)."""
        return [params[name] if name in params else self.constants[name] for name in self.names]

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        """Every row, run in the session's transaction."""
        driver = await driver_connection(session)
        rows: list[Any] = await driver.fetch(self.sql, *self.args(params))
        return rows

    async def fetchrow(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first row, or None."""
        driver = await driver_connection(session)
        return await driver.fetchrow(self.sql, *self.args(params))

    async def fetchval(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        driver = await driver_connection(session)
        return await driver.fetchval(self.sql, *self.args(params))


_DRIVER = "onebudget.sql.driver"


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction: SessionTransaction) -> None:
    # The connection may go back to the pool when a transaction ends: ask again next time.
    session.info.pop(_DRIVER, None)


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, with the session's transaction begun.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, at the first statement it runs itself.
    A statement sent straight to the driver before that would run outside any transaction
    (autocommit) and could not be rolled back, so the adapter is asked to begin first.
    tests/db/test_sql.py pins this: a raw write rolls back, and commits, with its session.
    The answer is kept until the session's transaction ends (asking costs about 25 us).
    """
    cached: asyncpg.Connection | None = session.info.get(_DRIVER)
    if cached is not None:
        return cached
    connection = await session.connection()
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    if adapted._transaction is None:
        await adapted._start_transaction()
    driver: asyncpg.Connection = adapted._connection
    if not driver.is_in_transaction():
        raise RuntimeError("the session's connection is not in a transaction")
    session.info[_DRIVER] = driver
    return driver
