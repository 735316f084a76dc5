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

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
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

from service.ops.retry import sqlstate

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
        rows: list[Any] = await self._run(session, "fetch", params)
        return rows

    async def fetchrow(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first row, or None."""
        return await self._run(session, "fetchrow", params)

    async def fetchval(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        return await self._run(session, "fetchval", params)

    async def _run(self, session: AsyncSession, method: str, params: Mapping[str, Any]) -> Any:
        driver = await driver_connection(session)
        try:
            return await getattr(driver, method)(self.sql, *self.args(params))
        except Exception as error:
            await _drop_if_gone(session, driver, error)
            raise


def json_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as one JSON text parameter, for `jsonb_to_recordset(CAST(:p AS jsonb)) AS
    x(column type, ...)` in a statement: ids as their text, numbers and text as they are.

    One text parameter rather than an array per column: asyncpg checks every element of an
    array parameter against the collection ABCs; a spend's 20-odd one-element arrays cost
    0.135 M instructions more than its JSON rows do, of 3.64 M (README.md, "Benchmark").
    """
    return json.dumps(list(rows), default=_uuid_text, separators=(",", ":"))


def _uuid_text(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a row value json_rows sends")


class ConnectionLost(Exception):
    """The database connection died under a statement: the server restarted or went away.

    The statement may or may not have taken effect before; service.ops.unavailable answers
    503 for it, and the dead connection has been dropped from the pool.
    """


# SQLSTATEs after which a connection cannot be used: the server is shutting down or starting
# up (57P01-57P03), or the connection itself failed (class 08).
GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
CONNECTION_EXCEPTION_CLASS = "08"


def connection_gone(error: BaseException) -> bool:
    """True if this one driver error says the connection to the database is gone.

    Refused, reset or no socket file (OSError); the server's goodbye arriving mid-exchange,
    before the socket shows as closed, which leaves asyncpg's protocol "failed" for the next
    statement (InternalClientError); or a SQLSTATE above. service.ops.unavailable answers
    503 for these, wherever they sit in an error's chain.
    """
    if isinstance(error, OSError | asyncpg.exceptions.InternalClientError):
        return True
    state = sqlstate(error)
    return state in GONE_SQLSTATES or state.startswith(CONNECTION_EXCEPTION_CLASS)


async def _drop_if_gone(
    session: AsyncSession, driver: asyncpg.Connection, error: Exception
) -> None:
    """If the connection died, tell SQLAlchemy's pool (which cannot see statements sent
    straight to the driver) so it stops handing it out, and raise ConnectionLost."""
    if not (driver.is_closed() or connection_gone(error)):
        return
    session.info.pop(_DRIVER, None)
    connection = await session.connection()
    await connection.invalidate(error)
    raise ConnectionLost("the database connection was lost") from error


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
    driver: asyncpg.Connection = adapted._connection
    if adapted._transaction is None:
        try:
            await adapted._start_transaction()
        except Exception as error:
            await _drop_if_gone(session, driver, error)
            raise
    if not driver.is_in_transaction():
        raise RuntimeError("the session's connection is not in a transaction")
    session.info[_DRIVER] = driver
    return driver
