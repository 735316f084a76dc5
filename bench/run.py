"""onebudget's spend throughput against a fixed raw-PostgreSQL ceiling, in one run.

    python -m bench [--seconds 15] [--connections 16] [--budgets 1000] [--history 1000000]
                    [--profile [--profile-format flamegraph|speedscope|raw] [--profile-dir DIR]]

DATABASE_URL names the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres;
it must run on this machine for the CPU columns). The bench makes its own database there
(onebudget_bench_<pid>), ceiling.sh makes its own, and both are dropped at the end, even on
Ctrl-C. It takes about two minutes with the defaults and needs wrk and pgbench.

1. The service, started as README tells an operator to run it in production: `onebudget
   serve` (one worker per core, migrations first) with ONEBUDGET_DOCS=false and
   ONEBUDGET_METRICS=false, on a free loopback port. A council is registered with
   `onebudget agencies add` and `clients add`; through the API, with a real OAuth token, it
   opens the budgets (1,000 spread, 1 hot, 2 for history), each funded for the whole run.
2. wrk (C) POSTs spends (requests.lua: a fresh Idempotency-Key each, 1 to 500 pence of
   personal care) on 16 connections, 2 threads: "spread", a random budget of the 1,000 per
   request; "hot", all on one budget. A warm-up run first (not counted). Every answer that
   is not 201 is counted by status, and every socket error; the table shows them.
   During "spread", the same spends also run through the service's own code without HTTP
   (bench/direct.py: one process, as many tasks as connections, the same budgets): the
   difference is what uvicorn, the middleware, FastAPI and the token check cost.
3. The ceiling: ceiling/ceiling.sh (pgbench running a naive correct double-entry transfer;
   the fixed reference, unchanged) on the same server, 16 connections, over the same
   number of budgets, then over one. The ratio service/ceiling is the headline.
4. Balance reads: a budget gets 1,000 transfers, another 1,000,000 (the ledger's own
   POST_BATCH statement), then two wrk readers, one connection each, GET /v1/budgets/{id}
   of each budget side by side (so other work on the machine hits both alike). wrk rather
   than a Python loop: a C client adds next to nothing to the latency it measures, where
   a Python client's own per-request cost and pauses would show in the p50 and p99.
5. Checks: debits = credits, every account's counters = its transfers, one spend row per
   201 answer.

Each timed phase also reports where the CPU went (server / load generator / PostgreSQL
backends / other). With --profile, py-spy samples the server's workers during the spread
phase and writes a profile to a directory it prints (bench/profile.py).
"""

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import profile
from bench.api import (
    Api,
    Partner,
    bench_references,
    fetch_token,
    make_budgets,
    register_partner,
)
from bench.command import run_command
from bench.cpu import CpuMeter, machine_load_of_others
from bench.database import (
    DEFAULT_SERVER,
    RunOnDatabase,
    connect_admin,
    describe_server,
    maintenance_url,
)
from bench.direct import RESULT as DIRECT_RESULT
from bench.errors import BenchError
from bench.history import check_ledger, history_engine, seed_history
from bench.load import (
    Measured,
    Watch,
    ceiling_database,
    require_tools,
    run_ceiling,
    run_load,
    run_wrk,
)
from bench.progress import say
from bench.report import WITHOUT_HTTP, Outcome, print_table
from bench.server import Server, start_server
from service.api.fields import MAX_AMOUNT

SHORT_HISTORY = 1_000
MAX_PENCE = 500  # as requests.lua spends
ASSUMED_MAX_RATE = 20_000  # spends/s the allocations must be able to pay for, per budget
READ_WARMUP = 1


def libpq_environment(url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER (and PGPASSWORD) for ceiling.sh's psql and pgbench."""
    parsed = make_url(url)
    found = {
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
    }
    if parsed.password:
        found["PGPASSWORD"] = str(parsed.password)
    return found


def allocation_amount(args: argparse.Namespace) -> int:
    """Enough for every spend one budget could take in the whole run, within MAX_AMOUNT."""
    per_run = MAX_PENCE * ASSUMED_MAX_RATE * (args.seconds + args.warmup) * 2
    return int(min(MAX_AMOUNT, max(per_run, MAX_PENCE * args.history * 2)))


def describe(result: Measured, unit: str) -> None:
    """One result line, as soon as a phase ends."""
    latency = ""
    if result.latency_ms is not None:
        latency = f", p50 {result.latency_ms[0]:.1f} ms, p99 {result.latency_ms[1]:.1f} ms"
    failures = f", failures: {result.failure_text()}" if result.latency_ms is not None else ""
    say(f"result: {result.name}: {result.rate:,.0f} {unit}{latency}{failures}")
    if result.cpu is not None:
        say(f"        {result.cpu.describe()}")


class Run(RunOnDatabase[Outcome]):
    """One benchmark run on its own database: the server, the partner, and the phases."""

    def __init__(
        self,
        args: argparse.Namespace,
        server_url: str,
        database: str,
        work_dir: Path,
        outcome: Outcome,
    ) -> None:
        super().__init__(args, server_url, database, work_dir, outcome)
        self.ceiling_pids: list[int] = []  # ceiling.sh processes, to drop what they leave
        self.answered = 0  # 201s, warm-ups included, for the ledger check
        self.spend_runs = 0

    async def token(self, server: Server, partner: Partner) -> str:
        """A fresh access token (a long run would outlive one)."""
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as http:
            return await fetch_token(http, partner)

    async def on_database(self) -> None:
        """Everything that needs the service: set-up, spends, ceiling, history, reads."""
        args = self.args
        say("server: starting `onebudget serve` (it applies the migrations first)")
        server = await start_server(self.url, self.work_dir)
        # Not on the bench database: its commits and backends are what the phases count.
        monitor = await asyncpg.connect(maintenance_url(self.server_url))
        try:
            self.outcome.workers = server.workers()
            say(
                f"server: ready at {server.base_url} (pid {server.process.pid},"
                f" {self.outcome.workers} workers)"
            )
            partner = await register_partner(self.url, self.work_dir)
            say("setup: council and its OAuth client registered with `onebudget` commands")
            amount = allocation_amount(args)
            total = args.budgets + 3
            say(f"setup: {total:,} budgets through the API, £{amount / 100:,.0f} allocated each")
            async with httpx.AsyncClient(
                base_url=server.base_url, trust_env=False, timeout=60
            ) as http:
                api = Api(http, await fetch_token(http, partner))
                ids = await make_budgets(api, bench_references(total), amount, args.connections)
            budgets = {"spread": ids[: args.budgets], "hot": [ids[args.budgets]]}
            # ceiling.sh checkpoints before pgbench starts: the service gets the same start.
            await monitor.execute("CHECKPOINT")
            meter = CpuMeter(server.process.pid, monitor)
            # Each case's ceiling right after the service: what else the machine runs
            # drifts, and the ratio of the two is the headline.
            for case, ids_of_case in budgets.items():
                await self.spends(server, partner, meter, monitor, case, ids_of_case)
                if case == "spread":
                    await self.without_http(partner, monitor)
                await self.ceiling(meter, monitor, case, len(ids_of_case))
            await self.balance_reads(server, partner, ids[-2], ids[-1])
            engine = history_engine(self.url)
            try:
                in_flight = self.spend_runs * args.connections
                self.outcome.checks = await check_ledger(engine, self.answered, in_flight)
            finally:
                await engine.dispose()
            if any(s >= 500 for phase in self.outcome.service.values() for s in phase.unexpected):
                say(f"server log (last lines):\n{server.log_tail()}")
        finally:
            with contextlib.suppress(Exception):
                await monitor.close(timeout=5)
            server.stop()
            say("cleanup: server stopped")

    async def spends(
        self,
        server: Server,
        partner: Partner,
        meter: CpuMeter,
        monitor: Any,
        case: str,
        budget_ids: list[str],
    ) -> None:
        """A warm-up, then the timed wrk run (profiled, if asked, when spread)."""
        args = self.args
        budgets_file = self.budgets_file(case)
        budgets_file.write_text("\n".join(budget_ids) + "\n")
        url = server.base_url
        token = await self.token(server, partner)
        say(f"warm-up: service {case}, {args.warmup} s")
        warm = await run_wrk(
            f"warm-up {case}",
            url,
            mode="spend",
            token=token,
            connections=args.connections,
            seconds=args.warmup,
            budgets_file=budgets_file,
        )
        profiling = None
        if args.profile and case == "spread":
            profiling = asyncio.create_task(
                profile.record(
                    server.process.pid, args.seconds, args.profile_dir, args.profile_format
                )
            )
            self.outcome.profiled = case
        say(f"measure: service {case}, {args.seconds} s, wrk -c {args.connections}")
        label = f"service {case}"
        try:
            result = await run_wrk(
                label,
                url,
                mode="spend",
                token=token,
                connections=args.connections,
                seconds=args.seconds,
                budgets_file=budgets_file,
                watch=lambda pid: Watch(meter, monitor, self.database, label, args.seconds),
            )
        except BaseException:
            if profiling is not None:
                profiling.cancel()  # stops py-spy
            raise
        self.answered += warm.answered + result.answered
        self.spend_runs += 2
        self.outcome.service[case] = result
        describe(result, "spends/s")
        if profiling is not None:
            profile.report(await profiling, args.profile_format)

    def budgets_file(self, case: str) -> Path:
        """Where a case's budget ids are, one a line (wrk's requests.lua and bench.direct)."""
        return self.work_dir / f"{case}-budgets.txt"

    async def without_http(self, partner: Partner, monitor: Any) -> None:
        """The spread case's spends through the service's code alone (bench/direct.py)."""
        args = self.args
        started = self.work_dir / "direct-started"
        command = [
            *(sys.executable, "-m", "bench.direct", self.url),
            *("--client-id", partner.client_id),
            *("--budgets-file", str(self.budgets_file("spread"))),
            *("--connections", str(args.connections)),
            *("--seconds", str(args.seconds), "--warmup", str(args.warmup)),
            *("--started", str(started)),
        ]
        label = f"service {WITHOUT_HTTP}"
        say(f"measure: {label}, {args.seconds} s, {args.connections} tasks in one process")
        code, output, cpu = await run_load(
            command,
            env=os.environ,
            # The meter starts with the timed window (not at imports and warm-up), and counts
            # the process as the "server": there is no load generator apart from it.
            load_pid=lambda pid: pid if started.exists() else None,
            watch=lambda pid: Watch(
                CpuMeter(pid, monitor), monitor, self.database, label, args.seconds
            ),
        )
        found = [line for line in output.splitlines() if line.startswith(f"{DIRECT_RESULT} ")]
        if code != 0 or not found:
            raise BenchError(f"bench.direct failed (exit {code}):\n{output[-3000:]}")
        counted = json.loads(found[-1].split(" ", 1)[1])
        self.answered += counted["committed"]
        result = Measured(
            name=label,
            rate=counted["spends"] / counted["seconds"],
            answered=counted["spends"],
            latency_ms=(counted["p50_ms"], counted["p99_ms"]),
            cpu=cpu,
        )
        self.outcome.service[WITHOUT_HTTP] = result
        describe(result, "spends/s")

    async def ceiling(self, meter: CpuMeter, monitor: Any, case: str, budgets: int) -> None:
        """ceiling.sh on the same server, as many budgets as the service case had."""
        args = self.args
        say(f"measure: ceiling {case}: ceiling.sh {args.connections} {budgets} {args.seconds}")
        result = await run_ceiling(
            f"ceiling {case}",
            libpq_env=libpq_environment(self.server_url),
            connections=args.connections,
            budgets=budgets,
            seconds=args.seconds,
            meter=meter,
            monitor=monitor,
            started=self.ceiling_pids.append,
        )
        self.outcome.ceiling[case] = result
        describe(result, "tx/s")

    async def balance_reads(
        self, server: Server, partner: Partner, short_id: str, long_id: str
    ) -> None:
        """History on two budgets, then one reader (one connection) on each, side by side."""
        histories = {SHORT_HISTORY: short_id, self.args.history: long_id}
        engine = history_engine(self.url)
        try:
            for count, budget_id in histories.items():
                say(f"history: seeding {count:,} transfers")
                await seed_history(engine, budget_id, count)
        finally:
            await engine.dispose()
        token = await self.token(server, partner)

        async def read(name: str, count: int, seconds: int) -> Measured:
            url = f"{server.base_url}/v1/budgets/{histories[count]}"
            return await run_wrk(
                name, url, mode="read", token=token, connections=1, seconds=seconds
            )

        # Side by side, so a burst of other work on the machine hits both alike.
        await asyncio.gather(*(read("warm-up", count, READ_WARMUP) for count in histories))
        say(f"measure: balance reads, {self.args.read_seconds} s, one reader on each budget")
        results = await asyncio.gather(
            *(
                read(f"read, {count:,} transfers", count, self.args.read_seconds)
                for count in histories
            )
        )
        for count, result in zip(histories, results, strict=True):
            self.outcome.reads[count] = result
            describe(result, "reads/s")


async def run(args: argparse.Namespace, server_url: str, work_dir: Path, outcome: Outcome) -> None:
    """Create the bench database, run, and drop every database the run made, whatever happens."""
    outcome.others_before = await machine_load_of_others()
    say(f"machine: other processes used {outcome.others_before:.0f}% of one core just now")
    name = f"onebudget_bench_{os.getpid()}"
    admin = await connect_admin(server_url)
    run = Run(args, server_url, name, work_dir, outcome)
    try:
        outcome.database = await describe_server(admin)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        say(f"database: {name} on {outcome.database}")
        await run.on_database()
    finally:
        leftovers = [name, *(ceiling_database(pid) for pid in run.ceiling_pids)]
        for database in leftovers:
            with contextlib.suppress(Exception):
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        say(f"cleanup: dropped database {name}")
        await admin.close()


def positive(text: str) -> int:
    """A whole number above zero (an argparse type)."""
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above zero: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=positive, default=15, help="per timed phase")
    parser.add_argument("--warmup", type=positive, default=2, help="seconds before a phase")
    parser.add_argument("--connections", type=positive, default=16, help="wrk and pgbench")
    parser.add_argument("--budgets", type=positive, default=1000, help="spread budgets")
    parser.add_argument(
        "--history", type=positive, default=1_000_000, help="transfers on the long budget"
    )
    parser.add_argument("--read-seconds", type=positive, default=5, help="per read phase")
    parser.add_argument("--profile", action="store_true", help="py-spy the spread phase")
    parser.add_argument("--profile-format", choices=sorted(profile.SUFFIXES), default="flamegraph")
    parser.add_argument("--profile-dir", type=Path, help="default: a new temporary directory")
    args = parser.parse_args(argv)
    if args.history <= SHORT_HISTORY:
        parser.error(f"--history must be more than the short history ({SHORT_HISTORY:,})")
    if args.profile and args.profile_dir is None:
        args.profile_dir = Path(tempfile.mkdtemp(prefix="onebudget-profile-"))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    outcome = Outcome(budgets=args.budgets, connections=args.connections, seconds=args.seconds)

    def body(work_dir: Path) -> int:
        require_tools()
        if args.profile:
            profile.require_py_spy()
        asyncio.run(run(args, server_url, work_dir, outcome))
        print_table(outcome)
        return 0 if outcome.sound else 1

    return run_command("onebudget-bench-", body)


if __name__ == "__main__":
    sys.exit(main())
