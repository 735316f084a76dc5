"""What a run of `python -m bench.sync` measured, and the table it ends with."""

import os
from dataclasses import dataclass, field
from datetime import date

from bench.history import Check
from bench.sync.timed import Timed

LINE = "-" * 96


@dataclass
class Outcome:
    """What the run found, filled in as it goes."""

    command: str
    awards: int = 0
    people: int = 0
    events: int = 0
    budgets: int = 0
    database: str = ""
    others_before: float = 0.0
    phases: list[Timed] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return bool(self.phases) and all(check.held for check in self.checks)


def print_table(outcome: Outcome) -> None:
    """Awards synced and webhooks delivered per second, where the CPU went, the checks."""
    cores = os.cpu_count() or 1
    print("")
    print(
        f"onebudget syncs and webhook deliveries, {date.today().isoformat()}:"
        f" {outcome.awards:,} awards for {outcome.people:,} people from the council sandbox,"
    )
    print(
        f"{outcome.events:,} webhook messages over {outcome.budgets:,} budgets;"
        f" {outcome.database}; {cores} cores shared by everything; other processes used"
        f" {outcome.others_before:.0f}% of one core before the start"
    )
    print(LINE)
    print(f"{'':<30}{'items':>9}{'command':>10}{'per s':>9}{'work':>9}{'per s':>9}")
    for phase in outcome.phases:
        label = f"{phase.name} +" if phase.profiled else phase.name
        print(
            f"{label:<30}{phase.items:>9,}{phase.command_seconds:>9.1f}s"
            f"{phase.command_rate:>9,.0f}{phase.work_seconds:>8.1f}s{phase.work_rate:>9,.0f}"
        )
    print("command: from starting it (start-up and migration check included) to its end;")
    print("work: the sync run's own start to finish, or the first delivery attempt to the last")
    if any(phase.profiled for phase in outcome.phases):
        print("+ py-spy sampled the command meanwhile (--profile), which slows it a little")
    print(LINE)
    for phase in outcome.phases:
        if phase.cpu is not None:
            server, load = phase.roles
            print(f"{phase.name}: {phase.cpu.describe(server=server, load=load)}")
    print(LINE)
    for check in outcome.checks:
        print(f"check: {check}")
    print(f"command: {outcome.command}")
    if not outcome.sound:
        print("bench: the run is not sound (see the checks above)")
