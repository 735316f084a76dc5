"""The service's CPU cost per request in instructions (valgrind's callgrind), for A/B
comparisons of a change on a noisy shared machine, where throughput is too noisy.

    python -m bench.instructions [--route spend|read|health ...] [--seconds 20] [--budgets 200]
                                 [--label TEXT] [--profile DIR]

DATABASE_URL names the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres).
The bench makes its own database there (onebudget_instr_<pid>) and drops it at the end, even
on Ctrl-C. About a minute a route, plus half a minute of set-up; it needs valgrind and wrk.
Only the server's process is counted: not PostgreSQL, not wrk.

1. Set-up, not counted: `onebudget serve --workers 1` (migrating the fresh database); a council
   registered with `onebudget agencies add` and `clients add` opens --budgets funded budgets
   through the API with a real OAuth token. The server is stopped.
2. The same command on the same database and data directory (where the token signing key
   lives: the council's client stays valid) under callgrind, counting nothing
   (--instr-atstart=no) until the bench opens a window; one process serves, with
   PYTHONHASHSEED=0 (the same dict and set layouts at each start).
3. For each route, in the order given (repeat one to see how well counts repeat): a fresh
   token, a warm-up (wrk, 4 connections, 10 s; not counted), then two windows: the server
   idle for 10 s (its timers), then wrk on ONE connection for --seconds (each request runs
   alone, the same way each run: no batching). Per request = (busy - idle a second x busy
   seconds) / requests served: wrk's answers and the one in flight at its deadline (for
   spends, checked against the rows made). Routes: "spend" POSTs spends (bench/requests.lua:
   a random budget, a fresh Idempotency-Key: each wrk run has a seed of its own, as the
   same seed again would replay the keys, which the service answers from the stored
   answers), "read" GETs one budget, "health" GETs /healthz. Any answer but 2xx, or a
   socket error, fails the run.

Separate runs agree to within about 0.5% (spends 0.3%). With --profile DIR, each route's
counted window is kept there as a callgrind file, for callgrind_annotate (or KCachegrind).
"""

import argparse
import asyncio
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.api import Api, Partner, bench_references, fetch_token, make_budgets, register_partner
from bench.command import run_command
from bench.database import DEFAULT_SERVER, connect_admin, describe_server, own_database
from bench.errors import BenchError
from bench.instructions.callgrind import (
    Callgrind,
    Window,
    per_request,
    require_callgrind,
    wrapper,
)
from bench.load import Measured, require_wrk, run_wrk
from bench.progress import say
from bench.run import positive
from bench.server import Server, start_server

ROUTES = {
    "spend": "POST /v1/budgets/{id}/spends",
    "read": "GET /v1/budgets/{id}",
    "health": "GET /healthz",
}
AMOUNT = 10_000_000  # pence a budget: 20,000 of requests.lua's largest spends
CONCURRENCY = 8  # API calls at once during the set-up
READY_WITHIN = 300.0  # seconds: under valgrind, 10 s on a quiet machine, minutes on a busy one
WARMUP_SECONDS, WARMUP_CONNECTIONS = 10, 4
IDLE_SECONDS = 10
# String hashes, and so dict and set layouts, the same at each start: spends of separate
# runs then agree to about 0.3% rather than 0.6%.
SAME_HASHES = {"PYTHONHASHSEED": "0"}
SPENDS = "SELECT count(*) FROM spend"
SETTLE_SECONDS = 2.0  # after wrk: time to serve what it left in flight (one request: 0.1 s)


@dataclass(frozen=True)
class Counted:
    """One route's figures."""

    route: str
    requests: int
    instructions: float  # a request
    idle_rate: float  # instructions a second, the server idle
    failures: int  # non-2xx answers and socket errors: 0, or the run failed


def requests_served(measured: Measured, connections: int) -> int:
    """Requests the server served in the window: the answers wrk counted, and the one each
    connection had in flight when wrk stopped at its deadline (sent, and served inside the
    window: it stays open SETTLE_SECONDS longer)."""
    return measured.answered + connections


class Run:
    """One run on its own database: the set-up, the server under callgrind, the routes."""

    def __init__(self, args: argparse.Namespace, url: str, work_dir: Path) -> None:
        self.args = args
        self.url = url
        self.work_dir = work_dir
        self.counted: list[Counted] = []
        self.budgets_file = work_dir / "budgets.txt"
        self.out_file = work_dir / "callgrind" / "callgrind.out"
        self.probe: Any = None  # asyncpg connection to the run's database

    async def set_up(self) -> tuple[Partner, list[str]]:
        """The council and its budgets, made through a plain server (valgrind is slow)."""
        say("server: `onebudget serve --workers 1` to set up (it applies the migrations first)")
        server = await start_server(self.url, self.work_dir, workers=1)
        try:
            partner = await register_partner(self.url, self.work_dir)
            say(f"setup: council registered; {self.args.budgets:,} budgets through the API")
            async with httpx.AsyncClient(
                base_url=server.base_url, trust_env=False, timeout=60
            ) as http:
                api = Api(http, await fetch_token(http, partner))
                ids = await make_budgets(
                    api, bench_references(self.args.budgets), AMOUNT, CONCURRENCY
                )
        finally:
            server.stop()
        self.budgets_file.write_text("\n".join(ids) + "\n")
        return partner, ids

    async def on_database(self) -> None:
        partner, ids = await self.set_up()
        self.probe = await asyncpg.connect(self.url)
        try:
            await self.counted_server(partner, ids[0])
        finally:
            await self.probe.close()

    async def spends(self) -> int:
        """Spend rows in the database (the server's requests are what callgrind counts)."""
        return int(await self.probe.fetchval(SPENDS))

    async def counted_server(self, partner: Partner, budget_id: str) -> None:
        """The server under callgrind, and each route measured on it."""
        self.out_file.parent.mkdir()
        say("server: the same under callgrind, counting nothing yet (slower to start)")
        server = await start_server(
            self.url,
            self.work_dir,
            workers=1,
            wrapper=wrapper(self.out_file),
            settings=SAME_HASHES,
            ready_within=READY_WITHIN,
        )
        try:
            say(f"server: ready at {server.base_url} (pid {server.process.pid}, callgrind)")
            callgrind = Callgrind(server.process.pid, self.out_file)
            for route in self.args.routes:
                async with httpx.AsyncClient(
                    base_url=server.base_url, trust_env=False, timeout=120
                ) as http:
                    token = await fetch_token(http, partner)  # they live 10 minutes
                self.counted.append(await self.measure(server, callgrind, route, token, budget_id))
        except BenchError as exc:
            if server.process.poll() is None:
                raise
            raise BenchError(
                f"{exc}\nthe server under callgrind exited ({server.process.returncode});"
                f" its log:\n{server.log_tail(15)}"
            ) from None
        finally:
            server.stop()
            say("server: stopped")

    async def measure(
        self, server: Server, callgrind: Callgrind, route: str, token: str, budget_id: str
    ) -> Counted:
        """A warm-up, the server idle, then one wrk connection; the route's figures."""
        url = {
            "spend": server.base_url,
            "read": f"{server.base_url}/v1/budgets/{budget_id}",
            "health": f"{server.base_url}/healthz",
        }[route]
        mode = "spend" if route == "spend" else "read"

        async def wrk(name: str, connections: int, seconds: int) -> Measured:
            measured = await run_wrk(
                name,
                url,
                mode=mode,
                token=token,
                connections=connections,
                seconds=seconds,
                budgets_file=self.budgets_file,
            )
            if measured.failed:
                raise BenchError(f"{name}: {measured.failure_text()} (2xx only expected)")
            # The requests wrk left in flight, served before the next window (or inside
            # the counted one, for requests_served).
            await asyncio.sleep(SETTLE_SECONDS)
            return measured

        say(f"warm-up: {route}: wrk -c {WARMUP_CONNECTIONS}, {WARMUP_SECONDS} s, not counted")
        await wrk(f"{route}, warm-up", WARMUP_CONNECTIONS, WARMUP_SECONDS)
        say(f"measure: {route}: the server idle, {IDLE_SECONDS} s")
        idle, _ = await callgrind.count(asyncio.sleep(IDLE_SECONDS))
        say(f"measure: {route}: wrk -c 1, {self.args.seconds} s")
        spends_before = await self.spends()
        window, measured = await callgrind.count(wrk(f"{route}, counted", 1, self.args.seconds))
        spends = await self.spends() - spends_before
        requests = requests_served(measured, 1)
        if route == "spend" and spends != requests:
            raise BenchError(
                f"{spends:,} spends were made while callgrind counted, but {requests:,}"
                " requests counted (wrk's answers and the one in flight at its deadline);"
                " a replayed Idempotency-Key makes none"
            )
        counted = Counted(
            route,
            requests,
            per_request(window, idle, requests),
            idle.rate,
            measured.failed,
        )
        say(
            f"result: {route}: {counted.instructions / 1e6:.3f} M instructions a request"
            f" ({requests:,} requests; idle {idle.rate / 1e6:.2f} M/s)"
        )
        self.keep(route, window)
        return counted

    def keep(self, route: str, window: Window) -> None:
        """--profile: the busy window's dump, where it was asked for."""
        if self.args.profile is None:
            return
        self.args.profile.mkdir(parents=True, exist_ok=True)
        kept = self.args.profile / f"callgrind.out.{route}"
        repeat = 1
        while kept.exists():  # the route measured again in this run, or a run before
            repeat += 1
            kept = self.args.profile / f"callgrind.out.{route}.{repeat}"
        shutil.copyfile(window.dump, kept)
        say(f"profile: {kept} (`callgrind_annotate {kept} | head -60`)")


def print_table(args: argparse.Namespace, database: str, counted: list[Counted]) -> None:
    """The figures, one row a route."""
    given = shlex.join(["python", "-m", "bench.instructions", *args.given])
    print("")
    print(
        f"onebudget instructions a request, {date.today().isoformat()}"
        f"{f' [{args.label}]' if args.label else ''}: `onebudget serve --workers 1` under"
        f" callgrind on {database}"
    )
    print(f"`{given}`: wrk on one connection, {args.seconds} s a route, after a warm-up")
    print("-" * 86)
    print(f"{'route':<32}{'M instructions':>16}{'requests':>10}{'idle':>10}{'non-2xx':>9}")
    print(f"{'':<32}{'a request':>16}{'counted':>10}{'M/s':>10}")
    for row in counted:
        print(
            f"{ROUTES[row.route]:<32}{row.instructions / 1e6:>16.3f}{row.requests:>10,}"
            f"{row.idle_rate / 1e6:>10.2f}{row.failures:>9,}"
        )


async def run(args: argparse.Namespace, server_url: str, work_dir: Path) -> None:
    """The run on a database of its own, dropped at the end whatever happens."""
    name = f"onebudget_instr_{os.getpid()}"
    admin = await connect_admin(server_url)
    try:
        database = await describe_server(admin)
    finally:
        await admin.close()
    async with own_database(server_url, name) as url:
        say(f"database: {name} on {database}")
        run = Run(args, url, work_dir)
        try:
            await run.on_database()
        finally:
            say(f"cleanup: dropping database {name}")
    print_table(args, database, run.counted)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--route",
        dest="routes",
        choices=sorted(ROUTES),
        action="append",
        help="spend (default), read or health; repeat it for several in one run",
    )
    parser.add_argument(
        "--seconds", type=positive, default=20, help="the counted wrk run (default 20)"
    )
    parser.add_argument(
        "--budgets", type=positive, default=200, help="budgets spends land on (default 200)"
    )
    parser.add_argument("--label", help="printed with the figures (e.g. the change measured)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="keep the callgrind files")
    args = parser.parse_args(argv)
    args.routes = args.routes or ["spend"]
    args.given = sys.argv[1:] if argv is None else list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_SERVER

    def body(work_dir: Path) -> int:
        require_callgrind()
        require_wrk()
        asyncio.run(run(args, server_url, work_dir))
        return 0

    return run_command("onebudget-instr-", body)
