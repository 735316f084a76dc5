"""What `onebudget sync` shows: a progress bar per agency on stderr (rich), then a summary.

rich, not tqdm: the totals are unknown until the agency's last page, and rich shows a
running count with a spinner and a table at the end with one library, and writes plain
lines when stderr is not a terminal.
"""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.sync import Progress as SyncProgress
from adapters.sync import SyncOutcome
from service.syncs.runs import Counts

SUMMARY = ("fetched", "created", "unchanged", "adjusted", "confirmed", "dead_lettered", "pushed")


@contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[SyncProgress]:
    """A progress line for one agency's sync; yields the sync's progress hook."""
    if not enabled:
        yield lambda counts, stage: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, counts="starting")

        def hook(counts: Counts, stage: str) -> None:
            shown = ", ".join(
                f"{name.replace('_', '-')} {getattr(counts, name)}" for name in SUMMARY
            )
            bar.update(task, counts=f"{stage}: {shown}")

        yield hook
        bar.update(task, total=1, completed=1)


def outcome_json(outcome: SyncOutcome, label: str) -> dict[str, Any]:
    """One agency's sync as JSON."""
    return {
        "agency_id": str(outcome.agency_id),
        "agency": label,
        "run_id": str(outcome.run_id),
        "status": outcome.status,
        "error": outcome.error,
        **outcome.counts.as_dict(),
    }


def print_summary(
    outcomes: Sequence[tuple[str, SyncOutcome]], *, as_json: bool, out: TextIO
) -> None:
    """The summary: a table (or JSON) of what each sync found and did."""
    if as_json:
        documents = [outcome_json(outcome, label) for label, outcome in outcomes]
        print(json.dumps(documents, indent=2), file=out)
        return
    table = Table(title="onebudget sync")
    table.add_column("agency")
    for name in SUMMARY:
        table.add_column(name.replace("_", "-"), justify="right")
    table.add_column("status")
    for label, outcome in outcomes:
        counts = outcome.counts.as_dict()
        status = outcome.status if outcome.error is None else f"{outcome.status}: {outcome.error}"
        table.add_row(label, *(str(counts[name]) for name in SUMMARY), status)
    Console(file=out, width=max(120, Console(file=out).width)).print(table)
