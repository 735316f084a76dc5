"""The bench's own databases on the PostgreSQL server DATABASE_URL names: made fresh, and
dropped at the end whatever happens (an error, Ctrl-C)."""

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from bench.errors import BenchError

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

OutcomeT = TypeVar("OutcomeT")


class RunOnDatabase(Generic[OutcomeT]):
    """One bench run on a database of its own: its options, the server and database, its
    work directory, and the outcome it fills in."""

    def __init__(
        self,
        args: argparse.Namespace,
        server_url: str,
        database: str,
        work_dir: Path,
        outcome: OutcomeT,
    ) -> None:
        self.args = args
        self.server_url = server_url
        self.database = database
        self.url = with_database(server_url, database)
        self.work_dir = work_dir
        self.outcome = outcome


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database; asyncpg wants plain postgresql://."""
    parsed = make_url(url).set(drivername="postgresql", database=name)
    return parsed.render_as_string(hide_password=False)


def maintenance_url(url: str) -> str:
    """The database DATABASE_URL names, where databases are made and dropped and watched."""
    return with_database(url, make_url(url).database or "postgres")


async def connect_admin(server_url: str) -> Any:
    """A connection to the maintenance database; BenchError saying what to set if none."""
    try:
        return await asyncpg.connect(maintenance_url(server_url))
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(
            f"cannot connect to {make_url(server_url).render_as_string(hide_password=True)}:"
            f" {exc}; set DATABASE_URL to a PostgreSQL server on this machine"
        ) from None


async def describe_server(connection: Any) -> str:
    """The server's version and commit durability, as the tables print them."""
    version = str(await connection.fetchval("SHOW server_version")).split()[0]
    sync_commit = await connection.fetchval("SHOW synchronous_commit")
    return f"PostgreSQL {version} (synchronous_commit={sync_commit})"


@contextlib.asynccontextmanager
async def own_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A fresh, empty database `name` on the server (the service migrates it); its URL.

    Dropped at the end, also on an error or Ctrl-C (asyncio.run cancels the task, and the
    drop runs in the cancelled task's finally)."""
    admin = await connect_admin(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(server_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
