"""The `onebudget` command: serve, migrate, onboard partners, export the OpenAPI document."""

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings, get_settings
from service.database import make_engine, make_sessionmaker, plain_url
from service.migrate import upgrade

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "v1.json"


def _fail(message: str) -> int:
    print(f"onebudget: {message}", file=sys.stderr)
    return 2


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run work in one committed transaction on the configured (or embedded) database."""
    url = plain_url(settings)
    upgrade(url)  # Alembic runs its own event loop, so before ours starts

    async def run() -> Any:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _agencies_add(settings: Settings, args: argparse.Namespace) -> int:
    from service.agencies.service import create_agency

    async def work(session: AsyncSession) -> dict[str, str]:
        agency = await create_agency(session, name=args.name, kind=args.kind)
        return {"id": str(agency.id), "name": agency.name, "kind": agency.kind}

    try:
        print(json.dumps(_in_transaction(settings, work)))
    except ValueError as exc:
        return _fail(str(exc))
    return 0


def _clients_add(settings: Settings, args: argparse.Namespace) -> int:
    from service.auth.service import create_client

    try:
        agency_id = uuid.UUID(args.agency)
    except ValueError:
        return _fail(f"--agency must be an agency id (a UUID), not {args.agency!r}")

    async def work(session: AsyncSession) -> dict[str, str]:
        client, secret = await create_client(
            session, agency_id=agency_id, name=args.name, scope=args.scope
        )
        return {"client_id": client.client_id, "client_secret": secret, "scope": client.scope}

    try:
        print(json.dumps(_in_transaction(settings, work)))
    except (ValueError, LookupError) as exc:
        return _fail(f"{exc} (list agencies with GET /v1/agencies, or add one)")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from service.auth.keys import load_or_create_signing_key
    from service.main import create_app
    from service.ops.exposure import UnsafeExposure, check_exposure
    from service.ops.logging import configure_logging
    from service.ops.timeouts import header_deadline_protocol

    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    try:
        check_exposure(settings)
    except UnsafeExposure as exc:
        return _fail(str(exc))
    configure_logging(settings.log_level)
    url = plain_url(settings)
    if not args.no_migrate:
        upgrade(url)
    if args.demo:
        from service.demo import load_demo

        load_demo(settings, url)
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
        )
        load_or_create_signing_key(settings.data_dir)  # once, before the workers race for it
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


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(plain_url(settings))
    print("database is at the latest migration")
    return 0


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    from service.main import create_app

    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != document:
            return _fail(f"{args.output} is stale: run `onebudget openapi` and commit it")
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(document)
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job."""
    parser = argparse.ArgumentParser(prog="onebudget", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="load the demo world once")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (about one per core)"
    )
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=_db_upgrade)

    agencies = commands.add_parser("agencies", help="partner agencies")
    add_agency = agencies.add_subparsers(dest="agencies", required=True).add_parser("add")
    add_agency.add_argument("--name", required=True)
    add_agency.add_argument(
        "--kind",
        required=True,
        choices=["council", "housing", "employment", "equipment", "health", "other"],
    )
    add_agency.set_defaults(run=_agencies_add)

    clients = commands.add_parser("clients", help="OAuth clients of partner systems")
    add_client = clients.add_subparsers(dest="clients", required=True).add_parser("add")
    add_client.add_argument("--agency", required=True, help="the agency id")
    add_client.add_argument("--name", required=True)
    add_client.add_argument("--scope", required=True, help='space-separated, e.g. "budgets:read"')
    add_client.set_defaults(run=_clients_add)

    openapi = commands.add_parser("openapi", help="write (or --check) openapi/v1.json")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    openapi.set_defaults(run=_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `onebudget` console script."""
    args = build_parser().parse_args(argv)
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    return run(get_settings(), args)


if __name__ == "__main__":
    sys.exit(main())
