"""Crash test, long form: nothing acknowledged is lost when a process dies.

    python -m bench.crash [--cycles 20] [--restarts 8] [--clients 6] [--budgets 8]

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.crash

1. `onebudget serve --workers 2` on its own database (created on the DATABASE_URL server
   and dropped at the end, else on an embedded PostgreSQL in a temp dir): --cycles times,
   the clients spend at full speed and the service's whole process group is killed with
   SIGKILL at a random moment, then started again.
2. The service on its embedded PostgreSQL (no DATABASE_URL, a temp ONEBUDGET_DATA_DIR):
   --restarts cycles taking turns: PostgreSQL fast stop, immediate stop (the service must
   find it again without a restart), and kill -9 of the service and PostgreSQL together
   (the service must start again on the same data dir). The server in DATABASE_URL is
   never stopped.

After every cycle every unanswered request is retried with its Idempotency-Key and body,
and the ledger is checked (bench/crash/checks.py). Prints a line per cycle, totals, and
every violation; exits 1 if there was any. CI runs a short form: tests/durability.
"""

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.command import run_command
from bench.crash.cycles import Disruption, Load, Run, run_cycles
from bench.crash.service import Service
from bench.database import own_database
from bench.progress import say
from service.database import start_embedded

RESTART_TURNS = (
    Disruption.POSTGRES_FAST,
    Disruption.POSTGRES_IMMEDIATE,
    Disruption.KILL_SERVICE_AND_POSTGRES,
    Disruption.KILL_SERVICE,
)


async def run(args: argparse.Namespace, work_dir: Path) -> list[Run]:
    load = Load(clients=args.clients, budgets=args.budgets, max_seconds=args.max_seconds)
    runs = []
    if args.cycles:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            say(f"database: starting a private embedded PostgreSQL in {work_dir / 'db'}")
            server_url = await asyncio.to_thread(start_embedded, work_dir / "db")
        async with own_database(server_url, f"onebudget_crash_{os.getpid()}") as url:
            service = Service(work_dir / "service", url)
            kills = [Disruption.KILL_SERVICE] * args.cycles
            runs.append(await run_cycles("service kills", service, url, kills, load, say))
    if args.restarts:
        turns = [RESTART_TURNS[i % len(RESTART_TURNS)] for i in range(args.restarts)]
        service = Service(work_dir / "embedded", None)
        runs.append(await run_cycles("embedded restarts", service, None, turns, load, say))
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.crash", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--cycles", type=int, default=20, help="service kills (default 20)")
    parser.add_argument(
        "--restarts", type=int, default=8, help="embedded PostgreSQL cycles (default 8)"
    )
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients (default 6)")
    parser.add_argument("--budgets", type=int, default=8, help="budgets besides the hot one")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3.0,
        help="most seconds of spending, after the first 201, before a disruption (default 3)",
    )
    args = parser.parse_args(argv)
    if args.cycles < 0 or args.restarts < 0 or args.clients < 1 or args.budgets < 1:
        parser.error("--cycles and --restarts must be 0 or more, --clients and --budgets 1 or more")
    if args.max_seconds < 0.3:
        parser.error("--max-seconds must be at least 0.3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def body(work_dir: Path) -> int:
        runs = asyncio.run(run(args, work_dir))
        say("")
        for finished in runs:
            say(finished.totals())
        violations = [f"{r.name}, {v}" for r in runs for v in r.violations]
        for violation in violations:
            say(f"VIOLATION: {violation}")
        say("no violations" if not violations else f"{len(violations)} violation(s)")
        return 1 if violations else 0

    return run_command(
        "onebudget-crash-", body, failure="crash test failed", before_removing=_stop_embedded
    )


def _stop_embedded(work_dir: Path) -> None:
    """Stop the embedded PostgreSQL a run left in the work directory, if any."""
    private = work_dir / "db" / "postgres"
    if private.exists():
        from service.database import _import_pgserver

        with contextlib.suppress(Exception):
            _import_pgserver().get_server(private).cleanup()


if __name__ == "__main__":
    sys.exit(main())
