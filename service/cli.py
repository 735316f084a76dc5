"""The `onebudget` command: serve, run jobs, migrate, onboard partners, export the API contracts.

Operator commands print JSON on stdout. Every error goes to stderr as one line saying what
went wrong and a last line `hint: ...` saying what to do, with a non-zero exit code and
no traceback.
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.keys import SigningKeyError
from service.config import Settings, get_settings
from service.database import make_engine, make_sessionmaker, plain_url
from service.migrate import upgrade

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "v1.json"
SDL_PATH = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"

_AGENCY_KINDS = ["council", "housing", "employment", "equipment", "health", "other"]
_FIND_AGENCIES = (
    "find agency ids with `onebudget agencies list`, or add one with `onebudget agencies add`"
)
_FIND_CLIENTS = "find client ids with `onebudget clients list`"
_LOOPBACK = "use --host 127.0.0.1 (the default), or an address of this machine"
_NAME_RULE = 'give --name 1 to 200 characters, e.g. --name "Northshire ICB"'
# SQLSTATE classes of a failed connection: connection exception, invalid authorization,
# invalid catalog name (no such database).
_CONNECTION_SQLSTATES = ("08", "28", "3D")


class CommandError(Exception):
    """An expected failure: what went wrong, and a hint that fits it."""

    def __init__(self, message: str, hint: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


def _fail(message: str, hint: str, exit_code: int = 2) -> int:
    """Print an error and its hint on stderr; return the exit code."""
    print(f"onebudget: {message}\nhint: {hint}", file=sys.stderr)
    return exit_code


def _print_json(value: Any) -> None:
    """Print a command's answer."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _iso(moment: datetime | None) -> str | None:
    """A timestamp as ISO 8601, or None."""
    return moment.isoformat() if moment is not None else None


def _database(settings: Settings) -> str:
    """The URL of the configured (or embedded) database, migrated to the latest revision."""
    try:
        url = plain_url(settings)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CommandError(
            f"the embedded PostgreSQL in {settings.data_dir} did not start: {exc}",
            "set ONEBUDGET_DATA_DIR to a directory you can write to, or DATABASE_URL to a "
            "PostgreSQL server",
            exit_code=1,
        ) from None
    try:
        upgrade(url)
    except OSError as exc:
        raise _unreachable(url, exc) from None
    except DBAPIError as exc:
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or getattr(exc.orig, "pgcode", ""))
        if sqlstate.startswith(_CONNECTION_SQLSTATES):
            raise _unreachable(url, exc.orig) from None
        raise CommandError(
            f"a database migration failed: {exc.orig}",
            "fix what the database reports, then run `onebudget db upgrade` again",
            exit_code=1,
        ) from None
    return url


def _unreachable(url: str, reason: object) -> CommandError:
    """The error for a database we cannot connect to."""
    shown = make_url(url).render_as_string(hide_password=True)
    return CommandError(
        f"cannot connect to the database {shown}: {reason}",
        "check DATABASE_URL and that the server is running (unset DATABASE_URL to use the "
        "embedded database in ONEBUDGET_DATA_DIR)",
        exit_code=1,
    )


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run work in one committed transaction on the configured (or embedded) database."""
    url = _database(settings)  # Alembic runs its own event loop, so before ours starts

    async def run() -> Any:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _uuid(text: str, option: str) -> uuid.UUID:
    """An option's value as a UUID; CommandError otherwise."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CommandError(
            f"{option} must be an id (a UUID), not {text!r}", "see `onebudget --help`"
        ) from None


def _agency_id(text: str) -> uuid.UUID:
    """An --agency value as a UUID; CommandError otherwise."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CommandError(
            f"--agency must be an agency id (a UUID), not {text!r}", _FIND_AGENCIES
        ) from None


def _agencies_add(settings: Settings, args: argparse.Namespace) -> int:
    from service.agencies.service import DuplicateAgencyName, create_agency

    async def work(session: AsyncSession) -> dict[str, str]:
        agency = await create_agency(session, name=args.name, kind=args.kind)
        return {"id": str(agency.id), "name": agency.name, "kind": agency.kind}

    try:
        _print_json(_in_transaction(settings, work))
    except DuplicateAgencyName as exc:
        raise CommandError(
            str(exc),
            "names are unique ignoring case: use that agency's id (`onebudget agencies "
            "list`), or choose another --name",
        ) from None
    except ValueError as exc:
        raise CommandError(str(exc), _NAME_RULE) from None
    return 0


def _agencies_list(settings: Settings, args: argparse.Namespace) -> int:
    from service.agencies.service import list_agencies

    async def work(session: AsyncSession) -> list[dict[str, str]]:
        listed: list[dict[str, str]] = []
        cursor: str | None = None
        while True:
            page, cursor = await list_agencies(session, cursor=cursor, limit=500)
            listed += [{"id": str(a.id), "name": a.name, "kind": a.kind} for a in page]
            if cursor is None:
                return listed

    _print_json(_in_transaction(settings, work))
    return 0


def _clients_add(settings: Settings, args: argparse.Namespace) -> int:
    from service.auth.service import BadScope, UnknownAgency, create_client

    agency_id = _agency_id(args.agency)

    async def work(session: AsyncSession) -> dict[str, str]:
        client, secret = await create_client(
            session, agency_id=agency_id, name=args.name, scope=args.scope
        )
        return {"client_id": client.client_id, "client_secret": secret, "scope": client.scope}

    try:
        _print_json(_in_transaction(settings, work))
    except UnknownAgency as exc:
        raise CommandError(str(exc), _FIND_AGENCIES) from None
    except BadScope as exc:
        raise CommandError(
            str(exc), 'give --scope as one quoted argument, e.g. --scope "budgets:read spends:read"'
        ) from None
    except ValueError as exc:
        raise CommandError(str(exc), _NAME_RULE) from None
    return 0


def _clients_list(settings: Settings, args: argparse.Namespace) -> int:
    from service.auth.service import UnknownAgency, list_clients

    agency_id = _agency_id(args.agency) if args.agency is not None else None

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        # Never the secret or its hashes: this output ends up in terminals and tickets.
        return [
            {
                "client_id": c.client_id,
                "name": c.name,
                "agency_id": str(c.agency_id),
                "scope": c.scope,
                "created_at": _iso(c.created_at),
                "revoked_at": _iso(c.revoked_at),
                "old_secret_valid_until": _iso(c.previous_secret_expires_at),
            }
            for c in await list_clients(session, agency_id=agency_id)
        ]

    try:
        _print_json(_in_transaction(settings, work))
    except UnknownAgency as exc:
        raise CommandError(str(exc), _FIND_AGENCIES) from None
    return 0


def _clients_rotate(settings: Settings, args: argparse.Namespace) -> int:
    from service.auth.service import ClientRevoked, UnknownClient, rotate_client_secret

    async def work(session: AsyncSession) -> dict[str, Any]:
        client, secret = await rotate_client_secret(
            session, args.client_id, grace_seconds=args.grace_seconds
        )
        return {
            "client_id": client.client_id,
            "client_secret": secret,
            "old_secret_valid_until": _iso(client.previous_secret_expires_at),
        }

    try:
        _print_json(_in_transaction(settings, work))
    except UnknownClient as exc:
        raise CommandError(str(exc), _FIND_CLIENTS) from None
    except ClientRevoked as exc:
        raise CommandError(
            str(exc), "register a new client for the agency with `onebudget clients add`"
        ) from None
    return 0


def _clients_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from service.auth.service import UnknownClient, revoke_client

    async def work(session: AsyncSession) -> dict[str, str | None]:
        client = await revoke_client(session, args.client_id)
        return {"client_id": client.client_id, "revoked_at": _iso(client.revoked_at)}

    try:
        _print_json(_in_transaction(settings, work))
    except UnknownClient as exc:
        raise CommandError(str(exc), _FIND_CLIENTS) from None
    return 0


def _connect(settings: Settings, args: argparse.Namespace) -> int:
    from service.domain.errors import NotFound
    from service.syncs.connections import ConnectionRefused, connect
    from service.syncs.credentials import CredentialsError

    agency_id = _agency_id(args.agency)
    stream_id = _uuid(args.stream, "--stream") if args.stream else None

    async def work(session: AsyncSession) -> dict[str, Any]:
        connection = await connect(
            session,
            agency_id=agency_id,
            adapter=args.adapter,
            url=args.url,
            credentials_file=args.credentials,
            stream_id=stream_id,
        )
        return {
            "agency_id": str(connection.agency_id),
            "adapter": connection.adapter,
            "url": connection.url,
            "stream_id": str(connection.stream_id),
            "credentials_file": connection.credentials_file,
            "cursor": connection.cursor,
        }

    try:
        _print_json(_in_transaction(settings, work))
    except NotFound as exc:
        raise CommandError(str(exc), _FIND_AGENCIES) from None
    except CredentialsError as exc:
        raise CommandError(
            str(exc),
            "fix the file: a JSON object of strings, readable by its owner only (chmod 600)",
        ) from None
    except ConnectionRefused as exc:
        raise CommandError(str(exc), "see `onebudget connect --help`") from None
    return 0


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import print_summary, progress_bar
    from adapters.sync import SyncOutcome, sync_agency
    from service.agencies.models import Agency
    from service.domain.errors import NotFound
    from service.syncs.connections import all_connections, connection_of
    from service.syncs.locks import SyncBusy

    agency_id = _agency_id(args.agency) if args.agency else None
    url = _database(settings)

    async def run() -> list[tuple[str, SyncOutcome]]:
        engine = make_engine(url, pool_size=2)
        sessionmaker = make_sessionmaker(engine)
        try:
            async with sessionmaker() as session:
                if agency_id is not None:
                    connections = [await connection_of(session, agency_id=agency_id)]
                else:
                    connections = await all_connections(session)
                names = {c.agency_id: (await session.get(Agency, c.agency_id)) for c in connections}
            outcomes = []
            for connection in connections:
                agency = names[connection.agency_id]
                label = agency.name if agency else str(connection.agency_id)
                with progress_bar(label, enabled=not args.json) as hook:
                    outcome = await sync_agency(
                        sessionmaker, settings, agency_id=connection.agency_id, progress=hook
                    )
                outcomes.append((label, outcome))
            return outcomes
        finally:
            await engine.dispose()

    try:
        outcomes = asyncio.run(run())
    except NotFound as exc:
        raise CommandError(str(exc), "connect it first with `onebudget connect`") from None
    except SyncBusy as exc:
        raise CommandError(
            str(exc), "wait for it to finish, then sync again", exit_code=1
        ) from None
    if not outcomes:
        raise CommandError(
            "no agency is connected to its system", "connect one with `onebudget connect`"
        )
    print_summary(outcomes, as_json=args.json, out=sys.stdout)
    return 0 if all(outcome.status == "succeeded" for _, outcome in outcomes) else 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from service.agencies.service import DuplicateAgencyName
    from service.auth.keys import load_or_create_signing_key
    from service.main import create_app
    from service.ops.exposure import UnsafeExposure, check_exposure
    from service.ops.logging import configure_logging
    from service.ops.timeouts import header_deadline_protocol

    if args.sandboxes and not args.demo:
        return _fail("--sandboxes serves the demo agencies' systems", "add --demo")
    settings = settings.model_copy(
        update={
            "host": args.host or settings.host,
            "port": args.port or settings.port,
            # The demo is for trying things: GraphiQL at /graphql, and introspection.
            "graphql_ide": settings.graphql_ide or args.demo,
        }
    )
    try:
        check_exposure(settings)
    except UnsafeExposure as exc:
        return _fail(
            str(exc),
            "serve on 127.0.0.1, or put TLS in front and set ONEBUDGET_TLS_TERMINATED_UPSTREAM=true"
            " with an https:// ONEBUDGET_ISSUER",
        )
    configure_logging(settings.log_level)
    # Refuse an unusable signing key before anything starts (and before workers race to it).
    load_or_create_signing_key(settings.data_dir)
    url = plain_url(settings) if args.no_migrate else _database(settings)
    if args.demo:
        from service.demo import load_demo

        awards = None
        if args.sandboxes:
            from adapters.demo import sandbox_awards

            awards = sandbox_awards()
        try:
            load_demo(settings, url, awards=awards)
        except DuplicateAgencyName as exc:
            raise CommandError(
                f"the demo cannot be loaded: {exc}",
                "run the demo on its own database: a fresh ONEBUDGET_DATA_DIR, or another "
                "DATABASE_URL",
            ) from None
    if args.sandboxes:
        from adapters.demo import serve_sandboxes

        serve_sandboxes(settings, url)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets
    # atexit run, which detaches from the embedded PostgreSQL (stopped when the last exits).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        # Slow clients: idle keep-alive, request headers (here) and body (BodyDeadline).
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "http": header_deadline_protocol(settings.header_read_timeout_seconds),
    }
    if args.workers > 1:
        # Worker processes build their own app from the environment: point them at the
        # database this process resolved (and keeps running, if embedded).
        os.environ.update(
            DATABASE_URL=url,
            ONEBUDGET_DATA_DIR=str(settings.data_dir),
            ONEBUDGET_HOST=settings.host,
            ONEBUDGET_PORT=str(settings.port),
            ONEBUDGET_GRAPHQL_IDE=str(settings.graphql_ide).lower(),
        )
        uvicorn.run(
            "service.main:app_from_environment",
            factory=True,
            workers=args.workers,
            host=settings.host,
            port=settings.port,
            **options,
        )
    else:
        app = create_app(settings, database_url=url, migrate=False)
        uvicorn.run(app, host=settings.host, port=settings.port, **options)
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from service.jobs.worker import run_worker
    from service.ops.logging import configure_logging

    if args.concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    configure_logging(settings.log_level)
    url = plain_url(settings) if args.no_migrate else _database(settings)

    async def run() -> None:
        # SIGTERM or Ctrl-C: take no new job, let the running ones finish, then exit.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(url, settings, stop=stop)

    asyncio.run(run())
    return 0


def _positive(text: str) -> int:
    """A whole number, 1 or more (an argparse type)."""
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more: {text!r}")
    return value


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    _database(settings)
    print("database is at the latest migration")
    return 0


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    from service.main import openapi_document

    # No signing key, data directory or database: writing the contract changes nothing else.
    document = json.dumps(openapi_document(settings), indent=2, sort_keys=True) + "\n"
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != document:
            raise CommandError(
                f"{args.output} is stale", "run `onebudget openapi` and commit the file"
            )
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(document)
    print(f"wrote {args.output}")
    return 0


def _sandbox_up(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.sandbox.faults import FaultError
    from adapters.sandbox.options import SandboxOptions
    from adapters.sandbox.runner import serve_until_stopped

    options = SandboxOptions(
        host=args.host, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret
    )
    try:
        asyncio.run(
            serve_until_stopped(
                faults=dict(args.fault), seed=args.seed, options=options, out=sys.stdout
            )
        )
    except FaultError as exc:
        raise CommandError(str(exc), "see the fault names in docs/agencies.md") from None
    except OSError as exc:
        raise CommandError(
            f"the sandboxes cannot listen on {args.host}: {exc}", _LOOPBACK
        ) from None
    return 0


def _fault(text: str) -> tuple[str, float]:
    """A --fault value, [KIND:]NAME=RATE (an argparse type)."""
    from adapters.sandbox.faults import FaultError, parse_fault

    try:
        return parse_fault(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _graphql_schema(settings: Settings, args: argparse.Namespace) -> int:
    from schema.app import sdl

    # Built from the code alone, like the OpenAPI document: no key, data dir or database.
    document = sdl()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != document:
            raise CommandError(
                f"{args.output} is stale", "run `onebudget graphql-schema` and commit the file"
            )
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(document)
    print(f"wrote {args.output}")
    return 0


def _seconds(text: str) -> int:
    """A whole number of seconds, 0 or more (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds, 0 or more: {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with errors that end in a hint like every other error of this command."""

    def error(self, message: str) -> NoReturn:
        """Print usage, the error and where to read more; exit 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\nhint: see `{self.prog} --help`\n")


def _version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("onebudget")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: run `pip install -e .`)"


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job."""
    from service.auth.service import DEFAULT_ROTATION_GRACE_SECONDS

    parser = _Parser(
        prog="onebudget", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="load the demo world once")
    serve.add_argument(
        "--sandboxes",
        action="store_true",
        help="with --demo: serve the five sandbox agencies too, connect the demo agencies to"
        " them and sync each once (the demo then allocates the sandboxes' own awards)",
    )
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    serve.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: one per core, here %(default)s)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker",
        help="run queued jobs (webhook deliveries, ...)",
        description="Run the job queue's jobs until SIGTERM or Ctrl-C, then finish the running"
        " ones and exit. Run one or more next to `serve`, on the same database.",
    )
    worker.add_argument(
        "--concurrency",
        type=_positive,
        help="jobs at once (default: ONEBUDGET_WORKER_CONCURRENCY, else 10)",
    )
    worker.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    worker.set_defaults(run=_worker)

    sandbox = commands.add_parser("sandbox", help="sandbox agencies to develop adapters against")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox", required=True)
    sandbox_up = sandbox_commands.add_parser(
        "up",
        help="serve the five sandbox agencies until Ctrl-C",
        description="Serve the five sandbox agencies (council, housing, employment, equipment, "
        "health), each on a free local port, and print one JSON line each: "
        '{"name", "kind", "url"}. Their formats, credentials and controls are in '
        "docs/agencies.md. Ctrl-C stops them.",
    )
    sandbox_up.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="[KIND:]NAME=RATE",
        help="inject a fault at a rate from 0 to 1, in every sandbox that has it or in one "
        "(e.g. --fault latency=0.2 --fault council:expired_token=0.5); repeatable. Names: "
        "latency, timeout, server_error, rate_limit, drop_connection, duplicate, out_of_order, "
        "malformed, expired_token (council), bad_signature (equipment)",
    )
    sandbox_up.add_argument(
        "--seed", type=int, default=0, help="seeds the fault dice (default: %(default)s)"
    )
    sandbox_up.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    sandbox_up.add_argument("--webhook-url", help="where the equipment service pushes webhooks")
    sandbox_up.add_argument(
        "--webhook-secret",
        help="the whsec_… secret to sign them with (default: a new one, shown by the "
        "equipment sandbox's GET /_sandbox/deliveries)",
    )
    sandbox_up.set_defaults(run=_sandbox_up)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=_db_upgrade)

    agencies = commands.add_parser("agencies", help="partner agencies").add_subparsers(
        dest="agencies", required=True
    )
    add_agency = agencies.add_parser("add", help="register an agency (names are unique)")
    add_agency.add_argument("--name", required=True)
    add_agency.add_argument("--kind", required=True, choices=_AGENCY_KINDS)
    add_agency.set_defaults(run=_agencies_add)
    agencies.add_parser("list", help="every agency, as JSON").set_defaults(run=_agencies_list)

    clients = commands.add_parser("clients", help="OAuth clients of partner systems")
    client_commands = clients.add_subparsers(dest="clients", required=True)
    add_client = client_commands.add_parser(
        "add", help="register a client; prints its secret, once"
    )
    add_client.add_argument("--agency", required=True, help="the agency id")
    add_client.add_argument("--name", required=True)
    add_client.add_argument("--scope", required=True, help='space-separated, e.g. "budgets:read"')
    add_client.set_defaults(run=_clients_add)
    list_clients = client_commands.add_parser("list", help="clients as JSON (never their secrets)")
    list_clients.add_argument("--agency", help="only this agency's clients")
    list_clients.set_defaults(run=_clients_list)
    rotate = client_commands.add_parser(
        "rotate",
        help="give a client a new secret",
        description="Give a client a new secret (printed once, as JSON). The old secret "
        "keeps working for the grace period, then stops. Tokens issued before the rotation "
        "keep working until they expire (ONEBUDGET_TOKEN_LIFETIME_SECONDS) unless the "
        "client is revoked. After a leak, use --grace-seconds 0.",
    )
    rotate.add_argument("client_id")
    rotate.add_argument(
        "--grace-seconds",
        type=_seconds,
        default=DEFAULT_ROTATION_GRACE_SECONDS,
        help="how long the old secret keeps working (default: %(default)s, one day)",
    )
    rotate.set_defaults(run=_clients_rotate)
    revoke = client_commands.add_parser(
        "revoke",
        help="stop a client for good",
        description="Revoke a client: it gets no new token, and every token it holds is "
        "refused from the next request on, in every service process. It cannot be undone: "
        "register a new client instead.",
    )
    revoke.add_argument("client_id")
    revoke.set_defaults(run=_clients_revoke)

    connect = commands.add_parser(
        "connect",
        help="bind an agency to its own system",
        description="Bind an agency to its own system: which adapter speaks to it, at which URL,"
        " with which credentials (a JSON file readable by its owner only, mode 0600; without"
        " --credentials, the agency's entry in ONEBUDGET_AGENCY_CREDENTIALS_FILE). The file's"
        " path is stored, never its secrets. Connecting again changes the binding; a new adapter"
        " or URL reads the agency's records from the start again (nothing is applied twice).",
    )
    connect.add_argument("--agency", required=True, help="the agency id")
    connect.add_argument(
        "--adapter",
        required=True,
        choices=["council", "housing", "employment", "equipment", "health"],
    )
    connect.add_argument("--url", required=True, help="the base URL of the agency's system")
    connect.add_argument(
        "--credentials", type=Path, help="the agency's secrets file (JSON, mode 0600)"
    )
    connect.add_argument(
        "--stream", help="the agency's stream its awards fund (default: its only stream)"
    )
    connect.set_defaults(run=_connect)

    sync = commands.add_parser(
        "sync",
        help="sync agencies with their systems now",
        description="Read what changed at each connected agency (or one) since its last sync,"
        " apply its awards, replay the dead letters asked for, and report paid spend lines"
        " back; a progress line per agency on stderr, then a summary (fetched, created,"
        " unchanged, adjusted, confirmed, dead-lettered, pushed). Exit 1 if a sync failed.",
    )
    sync.add_argument("--agency", help="only this agency (its id)")
    sync.add_argument("--json", action="store_true", help="print the summary as JSON, no bar")
    sync.set_defaults(run=_sync)

    openapi = commands.add_parser("openapi", help="write (or --check) openapi/v1.json")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    openapi.set_defaults(run=_openapi)

    graphql = commands.add_parser(
        "graphql-schema", help="write (or --check) schema/schema.graphql, the GraphQL SDL"
    )
    graphql.add_argument("--output", type=Path, default=SDL_PATH)
    graphql.add_argument("--check", action="store_true", help="fail if the file is stale")
    graphql.set_defaults(run=_graphql_schema)
    return parser


def _settings() -> Settings:
    """The settings from the environment; CommandError naming a bad variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        variable = "DATABASE_URL" if name == "database_url" else f"ONEBUDGET_{name.upper()}"
        raise CommandError(
            f"the setting {variable} is not valid: {first['msg']}",
            f"fix or unset {variable} (see Configuration in README.md)",
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `onebudget` console script."""
    args = build_parser().parse_args(argv)
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    try:
        return run(_settings(), args)
    except CommandError as exc:
        return _fail(exc.message, exc.hint, exc.exit_code)
    except SigningKeyError as exc:
        return _fail(f"cannot use the token signing key: {exc.reason}", exc.fix, 1)


if __name__ == "__main__":
    sys.exit(main())
