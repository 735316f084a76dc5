"""Awards synced per second from the council sandbox, and webhook deliveries per second.

    python -m bench.sync [--awards 10000] [--events 2000] [--budgets 50]
        [--profile [--profile-format flamegraph|speedscope|raw] [--profile-dir DIR]]

DATABASE_URL names the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres;
on this machine, for the CPU figures). The bench makes its own database there
(onebudget_syncbench_<pid>) and drops it at the end, even on Ctrl-C. About three minutes
with the defaults.

1. Set-up, not timed. `onebudget serve` on the fresh database (it migrates it). The
   council sandbox (adapters/sandbox: the HTTP server `onebudget sandbox up` runs, here in
   this process) is given awards through its control API until it holds --awards: one to
   three a person, about one in ten awaiting the funding panel (indicative), a year's
   care at £40 to £900 a week, to the penny. A council registered with `onebudget agencies
   add` and `clients add` opens, through the API with a real OAuth token, its stream and a
   budget for the year for every person the awards name. A second council opens --budgets
   funded budgets, registers an endpoint (POST /v1/webhook-endpoints) at a receiver in this
   process, and makes --events spends over them through the API: each writes one webhook
   message to the outbox in its own transaction. Then the server is stopped: the timed
   phases run alone with PostgreSQL and this process (the sandbox, the receiver).
2. Syncs. `onebudget connect` binds the council to its sandbox; `onebudget sync --agency`
   is timed twice: the first sync creates every award; for the second, the cursor is
   cleared (as `onebudget connect` does when the URL changes), so it reads every award
   again and finds each unchanged: the idempotent path.
3. Deliveries. `onebudget worker` is started and timed until every message is delivered
   (signed, one budget's messages in order), then stopped with SIGTERM.
4. Checks: one allocation per award and their sum equal to the sandbox's to the penny,
   each confirmed award moved into a pot once; every message delivered, exactly once,
   in the outbox's order per budget, every signature good; the ledger's debits equal its
   credits, its counters its transfers, one spend per 201.

Each phase shows the command's time (start-up included, as an operator waits for it) and
the work's own (from the database's timestamps), and where the CPU went. With --profile,
py-spy records each timed command (bench/profile.py) into a directory it prints.
"""

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx

from adapters.sandbox import RunningSandbox, running_sandboxes
from bench import profile
from bench.api import Api, Partner, fetch_token, register_partner
from bench.command import run_command
from bench.cpu import machine_load_of_others
from bench.database import (
    DEFAULT_SERVER,
    RunOnDatabase,
    connect_admin,
    describe_server,
    own_database,
)
from bench.errors import BenchError
from bench.history import check_ledger, history_engine
from bench.progress import say
from bench.receiver import Receiver, receiving
from bench.run import positive
from bench.server import production_environment, start_server
from bench.sync.awards import (
    Truth,
    award_checks,
    connect_council,
    expected_counts,
    open_budgets,
    seed_sandbox,
)
from bench.sync.deliveries import LOOPBACK_ALLOWED, WEBHOOK_SCOPES, delivery_checks, make_events
from bench.sync.report import Outcome, print_table
from bench.sync.timed import Commands, timed_sync, timed_worker

CONCURRENCY = 16  # API calls at once during the set-up
CLEAR_CURSOR = "UPDATE agency_connection SET cursor = NULL WHERE agency_id = $1"


class Run(RunOnDatabase[Outcome]):
    """One run on its own database."""

    async def set_up(
        self, sandbox: RunningSandbox, receiver: Receiver
    ) -> tuple[Partner, Truth, int]:
        """The server up, the sandbox's awards and both councils' budgets, the spends made,
        and the server stopped; (the council, the sandbox's truth, the spends made)."""
        args = self.args
        say("server: starting `onebudget serve` (it applies the migrations first)")
        server = await start_server(self.url, self.work_dir, settings=LOOPBACK_ALLOWED)
        try:
            say(f"server: ready at {server.base_url}")
            council = await register_partner(self.url, self.work_dir)
            truth = await seed_sandbox(sandbox, args.awards)
            await open_budgets(self.url, council, truth)
            async with httpx.AsyncClient(
                base_url=server.base_url, trust_env=False, timeout=60
            ) as http:
                payer = await register_partner(
                    self.url, self.work_dir, name="Bench Webhooks", scopes=WEBHOOK_SCOPES
                )
                say(f"setup: {args.budgets:,} budgets of a second council, then its spends")
                spends = await make_events(
                    Api(http, await fetch_token(http, payer)),
                    receiver,
                    budgets=args.budgets,
                    events=args.events,
                    concurrency=CONCURRENCY,
                )
        finally:
            server.stop()
            say("server: stopped; the timed phases run without it")
        return council, truth, spends

    async def syncs(self, council: Partner, truth: Truth, commands: Commands) -> None:
        """The first sync (all created), then every award read again (all unchanged)."""
        counts: list[dict[str, int]] = []
        for name in ("sync 1, created", "sync 2, unchanged"):
            if counts:
                await commands.probe.execute(CLEAR_CURSOR, council.agency_id)
                say("sync: cursor cleared: the next sync reads every award again")
            say(f"measure: {name}: `onebudget sync --agency {council.agency_id}`")
            timed, found = await timed_sync(
                name, agency_id=council.agency_id, awards=truth.count, commands=commands
            )
            self.outcome.phases.append(timed)
            counts.append(found)
        self.outcome.checks += expected_counts(counts[0], counts[1], truth.count)
        self.outcome.checks += await award_checks(commands.probe, council, truth)

    async def deliveries(self, receiver: Receiver, spends: int, commands: Commands) -> None:
        """`onebudget worker` until the outbox is empty, then the receiver's checks."""
        say("measure: deliveries: `onebudget worker` until every message is delivered")
        timed, code = await timed_worker(commands)
        self.outcome.phases.append(timed)
        self.outcome.checks += await delivery_checks(commands.probe, receiver, spends)
        if code != 0:
            raise BenchError(f"`onebudget worker` exited {code} on SIGTERM (0 expected)")

    async def on_database(self) -> None:
        async with (
            running_sandboxes(kinds=["council"]) as sandboxes,
            receiving() as receiver,
        ):
            sandbox = sandboxes["council"]
            say(f"sandbox: {sandbox.name} at {sandbox.url}")
            council, truth, spends = await self.set_up(sandbox, receiver)
            self.outcome.awards, self.outcome.people = truth.count, len(truth.people)
            await asyncio.to_thread(connect_council, self.url, self.work_dir, council, sandbox)
            # Not on the bench database: its backends are what the phases count.
            monitor = await connect_admin(self.server_url)
            probe = await asyncpg.connect(self.url)
            commands = Commands(
                env=production_environment(self.url, self.work_dir, settings=LOOPBACK_ALLOWED),
                work_dir=self.work_dir,
                probe=probe,
                monitor=monitor,
                database=self.database,
                profile_format=self.args.profile_format if self.args.profile else None,
                profile_dir=self.args.profile_dir,
            )
            try:
                await self.syncs(council, truth, commands)
                await self.deliveries(receiver, spends, commands)
            finally:
                await probe.close()
                await monitor.close()
        engine = history_engine(self.url)
        try:
            self.outcome.checks += await check_ledger(engine, spends, 0)
        finally:
            await engine.dispose()


async def run(args: argparse.Namespace, server_url: str, work_dir: Path, outcome: Outcome) -> None:
    """The run on a database of its own, dropped at the end whatever happens."""
    outcome.others_before = await machine_load_of_others()
    say(f"machine: other processes used {outcome.others_before:.0f}% of one core just now")
    name = f"onebudget_syncbench_{os.getpid()}"
    async with own_database(server_url, name):
        admin = await connect_admin(server_url)
        try:
            outcome.database = await describe_server(admin)
        finally:
            await admin.close()
        say(f"database: {name} on {outcome.database}")
        try:
            await Run(args, server_url, name, work_dir, outcome).on_database()
        finally:
            say(f"cleanup: dropping database {name}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--awards", type=positive, default=10_000, help="the sandbox's awards (default 10,000)"
    )
    parser.add_argument(
        "--events", type=positive, default=2_000, help="webhook messages (default 2,000)"
    )
    parser.add_argument(
        "--budgets", type=positive, default=50, help="budgets the messages are about (default 50)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy each timed command")
    parser.add_argument("--profile-format", choices=sorted(profile.SUFFIXES), default="flamegraph")
    parser.add_argument("--profile-dir", type=Path, help="default: a new temporary directory")
    args = parser.parse_args(argv)
    if args.profile and args.profile_dir is None:
        args.profile_dir = Path(tempfile.mkdtemp(prefix="onebudget-profile-"))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    given = sys.argv[1:] if argv is None else list(argv)
    outcome = Outcome(
        command=shlex.join(["python", "-m", "bench.sync", *given]),
        events=args.events,
        budgets=args.budgets,
    )

    def body(work_dir: Path) -> int:
        if args.profile:
            profile.require_py_spy()
        asyncio.run(run(args, server_url, work_dir, outcome))
        print_table(outcome)
        return 0 if outcome.sound else 1

    return run_command("onebudget-syncbench-", body)
