"""Everything one run measured, and the table it ends with."""

import os
from dataclasses import dataclass, field
from datetime import date

from bench.history import Check
from bench.load import Measured

# The spread case's spends through the service's code without HTTP (bench/direct.py).
WITHOUT_HTTP = "spread, no HTTP"
CASES = {
    "spread": "spread, {budgets:,} budgets",
    WITHOUT_HTTP: "  the same, no HTTP *",
    "hot": "hot, one budget",
}
# The ceiling each case is held against.
CEILING_OF = {WITHOUT_HTTP: "spread"}


@dataclass
class Outcome:
    """What the run found, filled in as it goes."""

    budgets: int
    connections: int
    seconds: int
    database: str = ""
    workers: int = 0
    others_before: float = 0.0
    service: dict[str, Measured] = field(default_factory=dict)  # by case
    ceiling: dict[str, Measured] = field(default_factory=dict)  # by case
    reads: dict[int, Measured] = field(default_factory=dict)  # by transfers on the budget
    profiled: str | None = None  # the case the profiler ran during
    checks: list[Check] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        """Every spend answered 201, no socket error, every check held."""
        phases = [*self.service.values(), *self.reads.values()]
        return not any(p.failed for p in phases) and all(c.held for c in self.checks)


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _spend_rows(outcome: Outcome) -> None:
    print(
        f"{'':<26}{'service':>9}{'ceiling':>9}{'service/':>10}{'p50':>8}{'p99':>8}"
        f"{'non-201':>9}{'socket':>8}"
    )
    print(
        f"{'':<26}{'spends/s':>9}{'tx/s':>9}{'ceiling':>10}{'ms':>8}{'ms':>8}{'':>9}{'errors':>8}"
    )
    for case, title in CASES.items():
        service = outcome.service.get(case)
        ceiling = outcome.ceiling.get(CEILING_OF.get(case, case))
        if service is None:
            continue
        label = title.format(budgets=outcome.budgets)
        label += " +" if outcome.profiled == case else ""
        ceiling_rate = f"{ceiling.rate:,.0f}" if ceiling else "-"
        ratio = f"{service.rate / ceiling.rate:.2f}" if ceiling and ceiling.rate > 0 else "-"
        p50, p99 = service.latency_ms or (None, None)
        print(
            f"{label:<26}{service.rate:>9,.0f}{ceiling_rate:>9}{ratio:>10}{_ms(p50):>8}"
            f"{_ms(p99):>8}{sum(service.unexpected.values()):>9,}{service.socket_errors:>8,}"
        )
    if WITHOUT_HTTP in outcome.service:
        print(
            "* the service's spend code and SQL in one process (bench/direct.py), no HTTP:"
            " its cpu is the server column"
        )
    if outcome.profiled is not None:
        print("+ py-spy sampled the server meanwhile (--profile), which slows it a little")


def _cpu_rows(outcome: Outcome) -> None:
    cores = os.cpu_count() or 1
    print(
        f"{'cpu, % of one core':<26}{'server':>9}{'load gen':>9}{'pg':>10}{'other':>8}"
        f"{f'of {cores * 100}':>8}  busiest others"
    )
    for side, phases in (("service", outcome.service), ("ceiling", outcome.ceiling)):
        for case, phase in phases.items():
            if phase.cpu is None:
                continue
            cpu = phase.cpu
            named = ", ".join(f"{n} {v:.0f}" for n, v in cpu.top_others) or "-"
            print(
                f"{f'{side} {case}':<26}{cpu.server:>9.0f}{cpu.load:>9.0f}{cpu.database:>10.0f}"
                f"{cpu.other:>8.0f}{cpu.machine:>8.0f}  {named}"
            )


def _read_rows(outcome: Outcome) -> None:
    print(f"{'GET /v1/budgets/{id} *':<26}{'reads/s':>9}{'':>19}{'p50':>8}{'p99':>8}{'non-200':>9}")
    for transfers, read in outcome.reads.items():
        p50, p99 = read.latency_ms or (None, None)
        print(
            f"{f'{transfers:,} transfers':<26}{read.rate:>9,.0f}{'':>9}{'':>10}{_ms(p50):>8}"
            f"{_ms(p99):>8}{read.failed:>9,}"
        )
    print("* one wrk reader (one connection) on each budget, both at once")
    if len(outcome.reads) == 2:
        small, big = (read.latency_ms for read in outcome.reads.values())
        if small and big and small[0] > 0:
            print(f"p50 ratio, long history / short: {big[0] / small[0]:.2f} (flat = 1.00)")


def print_table(outcome: Outcome) -> None:
    """The summary: spends against the ceiling, where the CPU went, balance reads, checks."""
    cores = os.cpu_count() or 1
    line = "-" * 96
    print("")
    print(
        f"onebudget spends vs the raw-PostgreSQL ceiling, {date.today().isoformat()}:"
        f" `onebudget serve` ({outcome.workers} workers) on {outcome.database};"
    )
    print(
        f"{cores} cores shared by the service, the load generators and PostgreSQL;"
        f" {outcome.connections} connections, {outcome.seconds} s a phase; other processes"
        f" used {outcome.others_before:.0f}% of one core before the start"
    )
    print(line)
    _spend_rows(outcome)
    print(line)
    _cpu_rows(outcome)
    print(line)
    _read_rows(outcome)
    print(line)
    for phase in [*outcome.service.values(), *outcome.reads.values()]:
        if phase.failed:
            print(f"failures, {phase.name}: {phase.failure_text()}")
    for check in outcome.checks:
        print(f"check: {check}")
    if not outcome.sound:
        print("bench: the run is not sound (see the failures and checks above)")
