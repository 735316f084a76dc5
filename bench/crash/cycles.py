"""Crash cycles: spend at full speed, break something at a random moment, recover, retry
every unanswered request, check the ledger. One implementation for the CI test
(tests/durability/test_crash.py, a few cycles) and `python -m bench.crash` (many).

Two worlds:

- the service on a database URL (the test's own database, or one the bench creates):
  cycles kill -9 the service's process group and start it again;
- the service on its embedded PostgreSQL (no DATABASE_URL, a temp ONEBUDGET_DATA_DIR):
  cycles also stop that PostgreSQL (fast or immediate) under load and start it again while
  the service runs on (it must recover by itself), or kill -9 the service and PostgreSQL
  together, as a crash of the machine would, and start the service on the same data dir.
"""

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from bench.api import (
    Api,
    Partner,
    bench_references,
    fetch_token,
    make_budgets,
    register_partner,
)
from bench.crash.checks import LedgerCheck, check_ledger
from bench.crash.postgres import EmbeddedPostgres
from bench.crash.service import Service
from bench.crash.spending import (
    REQUEST_TIMEOUT_SECONDS,
    Budgets,
    RetryCounts,
    SpendLog,
    attempt,
    client,
    fetch_token_when_ready,
    replay_acknowledged,
    retry_unanswered,
    spend_until_stopped,
)
from bench.errors import BenchError

RECOVERY_SECONDS = 30.0
ALLOCATED_TO_EACH_BUDGET = 10_000_000_000  # pence: more than any run can spend
REPLAYS_PER_CYCLE = 10
SHOWN_VIOLATIONS = 10


class Disruption(StrEnum):
    """What a cycle breaks."""

    KILL_SERVICE = "kill -9 service"
    POSTGRES_FAST = "PostgreSQL fast stop"
    POSTGRES_IMMEDIATE = "PostgreSQL immediate stop"
    # As a crash of the machine: its postmaster.pid stays behind, naming a pid that, as after
    # a reboot, another process has now.
    KILL_SERVICE_AND_POSTGRES = "kill -9 service+PostgreSQL, pid reused"

    @property
    def needs_embedded(self) -> bool:
        return self is not Disruption.KILL_SERVICE


@dataclass(frozen=True)
class Load:
    """How hard and how long the clients spend before each disruption."""

    clients: int = 6
    budgets: int = 8
    min_seconds: float = 0.3
    max_seconds: float = 1.2
    seed: int = 1


@dataclass
class World:
    """The running service, its database, the council that spends, and what it was told."""

    service: Service
    url: str
    partner: Partner
    budgets: Budgets
    postgres: EmbeddedPostgres | None = None
    log: SpendLog = field(default_factory=SpendLog)


@dataclass
class Cycle:
    """What one cycle did and found."""

    number: int
    disruption: Disruption
    after_seconds: float
    acknowledged: int
    unanswered: Counter[str]
    retried: RetryCounts
    replays: int
    ledger: LedgerCheck
    recovery_seconds: float
    violations: list[str]

    def describe(self) -> str:
        how = ", ".join(f"{kind} {n}" for kind, n in sorted(self.unanswered.items())) or "-"
        return (
            f"cycle {self.number} {self.disruption} after {self.after_seconds:.1f}s:"
            f" {self.acknowledged} acknowledged, {sum(self.unanswered.values())} unanswered"
            f" ({how}); retried: {self.retried.replayed} replayed, {self.retried.fresh} fresh"
            f" ({self.retried.attempts} attempts); {self.replays} acknowledged replayed;"
            f" ledger: {self.ledger.spends_checked} acknowledged spends checked,"
            f" {self.ledger.spends_in_ledger} in the ledger; back in {self.recovery_seconds:.1f}s;"
            f" new violations: {len(self.violations) or 'none'}"
        )


@dataclass
class Run:
    """Every cycle of one world."""

    name: str
    cycles: list[Cycle] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        return [f"cycle {c.number}: {v}" for c in self.cycles for v in c.violations]

    def totals(self) -> str:
        unanswered = sum(sum(c.unanswered.values()) for c in self.cycles)
        last = self.cycles[-1].ledger if self.cycles else None
        return (
            f"{self.name}: {len(self.cycles)} cycles,"
            f" {sum(c.acknowledged for c in self.cycles)} acknowledged at the first try,"
            f" {unanswered} unanswered and retried:"
            f" {sum(c.retried.replayed for c in self.cycles)} replayed,"
            f" {sum(c.retried.fresh for c in self.cycles)} fresh;"
            f" {sum(c.replays for c in self.cycles)} acknowledged spends replayed;"
            f" {last.spends_checked if last else 0} answered spends in the ledger at the end;"
            f" violations: {len(self.violations) or 'none'}"
        )


async def open_world(
    service: Service, database_url: str | None, load: Load, say: Callable[[str], None]
) -> World:
    """Start the service (it migrates), register the council, make the budgets via the API."""
    seconds = await service.start()
    say(f"setup: service ready at {service.base_url} in {seconds:.1f}s (pid {service.pid})")
    postgres = None
    if database_url is None:
        postgres = EmbeddedPostgres(service.data_dir)
        database_url = await asyncio.to_thread(postgres.join)
    partner = await register_partner(database_url, service.data_dir)
    async with httpx.AsyncClient(base_url=service.base_url, trust_env=False, timeout=30) as http:
        api = Api(http, await fetch_token(http, partner))
        ids = await make_budgets(
            api, bench_references(load.budgets + 1), ALLOCATED_TO_EACH_BUDGET, load.clients
        )
    return World(service, database_url, partner, Budgets(ids[1:], ids[0]), postgres)


async def disrupt(world: World, disruption: Disruption) -> None:
    """Break it: the blocking parts (pg_ctl, waiting for processes to die) in a thread."""
    if disruption is Disruption.KILL_SERVICE:
        await asyncio.to_thread(world.service.kill)
        return
    postgres = world.postgres
    if postgres is None:
        raise BenchError(f"{disruption} needs the embedded PostgreSQL")
    if disruption is Disruption.KILL_SERVICE_AND_POSTGRES:
        await asyncio.to_thread(world.service.kill)
        await asyncio.to_thread(postgres.kill)
        postgres.give_pid_to(os.getpid())
    else:
        fast = disruption is Disruption.POSTGRES_FAST
        await asyncio.to_thread(postgres.stop, "fast" if fast else "immediate")


async def recover(world: World, disruption: Disruption, processes: set[int]) -> float:
    """Bring it back; the seconds until the service was ready again. After a database
    restart the service's `processes` (taken before the disruption) must all still run."""
    started = time.perf_counter()
    if disruption in (Disruption.KILL_SERVICE, Disruption.KILL_SERVICE_AND_POSTGRES):
        await world.service.start()  # the service starts its embedded PostgreSQL itself
        return time.perf_counter() - started
    assert world.postgres is not None
    await asyncio.to_thread(world.postgres.start)
    await wait_until_ready(world.service.base_url)
    if world.service.process is None or world.service.process.poll() is not None:
        raise BenchError("the service died while its database was away")
    if world.service.processes() != processes:
        raise BenchError("a service process was restarted; the service should recover by itself")
    return time.perf_counter() - started


async def wait_until_ready(base_url: str) -> None:
    """Poll /readyz until it answers 200: the service found its database again by itself."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise BenchError(
        f"the service did not find its database again within {RECOVERY_SECONDS:.0f}s"
        " without a restart"
    )


async def probe_while_down(world: World, token: str) -> str | None:
    """One spend while the database is away: it must get a 503 with Retry-After, or no
    connection (its key is retried with the others). A violation, or None."""
    intent = world.log.new_intent(random.Random(), world.budgets.hot)
    world.log.unanswered.append(intent.key)
    async with client(world.service.base_url, 1) as http:
        outcome = await attempt(http, token, intent)
    world.log.failures[outcome.unanswered or "answered"] += 1
    if outcome.answer is not None:
        world.log.answers[intent.key] = outcome.answer
        return "a spend was answered 201 while PostgreSQL was down"
    return outcome.violation


async def run_cycle(
    world: World, disruption: Disruption, number: int, load: Load, rng: random.Random
) -> Cycle:
    """Spend, break, recover, retry, replay, check."""
    log = world.log
    violations_before, unanswered_before = len(log.violations), len(log.unanswered)
    failures_before = log.failures.copy()
    after = rng.uniform(load.min_seconds, load.max_seconds)
    async with client(world.service.base_url, load.clients) as http:
        token = await fetch_token_when_ready(http, world.partner)
        stop, acknowledged_now = asyncio.Event(), asyncio.Event()
        spenders = asyncio.create_task(
            spend_until_stopped(
                http,
                token,
                world.budgets,
                log,
                clients=load.clients,
                stop=stop,
                acknowledged_now=acknowledged_now,
                seed=load.seed * 100_003 + number,
                max_seconds=after + 2 * RECOVERY_SECONDS,
            )
        )
        # The random moment counts from the first 201 (a service just started answers its
        # first requests slowly, and a cycle that acknowledged nothing would test nothing),
        # and falls right after a 201: had the service answered before its commit was
        # durable, that spend would be lost now.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(acknowledged_now.wait(), RECOVERY_SECONDS)
        await asyncio.sleep(after)
        processes = world.service.processes()
        acknowledged_now.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(acknowledged_now.wait(), REQUEST_TIMEOUT_SECONDS)
        await disrupt(world, disruption)
        stop.set()
        acknowledged = await asyncio.wait_for(spenders, REQUEST_TIMEOUT_SECONDS + 10)
    if disruption in (Disruption.POSTGRES_FAST, Disruption.POSTGRES_IMMEDIATE):
        violation = await probe_while_down(world, token)
        if violation is not None:
            log.violations.append(f"while PostgreSQL was down: {violation}")
    recovery = await recover(world, disruption, processes)
    keys = log.unanswered[unanswered_before:]
    async with client(world.service.base_url, load.clients) as http:
        token = await fetch_token_when_ready(http, world.partner)
        retried = await retry_unanswered(http, token, log, keys, clients=load.clients)
        sample = rng.sample(acknowledged, min(REPLAYS_PER_CYCLE, len(acknowledged)))
        replays = await replay_acknowledged(http, token, log, sample)
    ledger = await check_ledger(world.url, world.partner.client_id, log)
    violations = [*log.violations[violations_before:], *ledger.violations]
    if not acknowledged:
        violations.append(
            "nothing was acknowledged before the disruption: the cycle tested nothing"
        )
    return Cycle(
        number=number,
        disruption=disruption,
        after_seconds=after,
        acknowledged=len(acknowledged),
        unanswered=log.failures - failures_before,
        retried=retried,
        replays=replays,
        ledger=ledger,
        recovery_seconds=recovery,
        violations=violations,
    )


async def run_cycles(
    name: str,
    service: Service,
    database_url: str | None,
    disruptions: Sequence[Disruption],
    load: Load,
    say: Callable[[str], None],
) -> Run:
    """Open the world, run one cycle per disruption (printing each), stop the service."""
    if database_url is not None and any(d.needs_embedded for d in disruptions):
        raise BenchError("only the embedded PostgreSQL may be stopped: run without DATABASE_URL")
    run = Run(name)
    world: World | None = None
    try:
        world = await open_world(service, database_url, load, say)
        rng = random.Random(load.seed)
        seen: set[str] = set()
        for number, disruption in enumerate(disruptions, start=1):
            cycle = await run_cycle(world, disruption, number, load, rng)
            # The ledger is checked whole every cycle: report what a cycle found new.
            cycle.violations = [v for v in dict.fromkeys(cycle.violations) if v not in seen]
            seen.update(cycle.violations)
            run.cycles.append(cycle)
            say(f"{name}: {cycle.describe()}")
            for violation in cycle.violations[:SHOWN_VIOLATIONS]:
                say(f"  VIOLATION: {violation}")
            if len(cycle.violations) > SHOWN_VIOLATIONS:
                say(f"  ... and {len(cycle.violations) - SHOWN_VIOLATIONS} more")
    finally:
        await asyncio.to_thread(service.stop)
        if world is not None and world.postgres is not None:
            await asyncio.to_thread(world.postgres.release)
    say(run.totals())
    return run
