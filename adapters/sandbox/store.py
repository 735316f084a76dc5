"""A sandbox's awards: each change a new version with the next change sequence number.

Pages run over the change sequence, so they are stable: a record changed while a client
pages through comes again at the end with its new version, and a client that keeps the
last sequence it saw gets only what changed since. Every version is kept, so faults can
serve an old one.
"""

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Generic, Protocol, TypeVar


class Record(Protocol):
    """What a store keeps: a sandbox's own frozen record, named by its agency's reference."""

    @property
    def reference(self) -> str:
        """The agency's own reference for the award."""
        ...


R = TypeVar("R", bound=Record)


class AwardStatus(StrEnum):
    """An award as onebudget should see it, whatever the agency calls it."""

    CONFIRMED = "confirmed"
    INDICATIVE = "indicative"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class AwardSummary:
    """The truth about one award, in pence: what an adapter should end up with."""

    reference: str
    person_ref: str
    amount: int
    status: AwardStatus
    version: int


@dataclass(frozen=True, slots=True)
class Versioned(Generic[R]):
    """One version of a record, with its change sequence number and time."""

    record: R
    version: int
    sequence: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """Records changed after a sequence number, oldest change first."""

    entries: list[Versioned[R]]
    next_after: int  # give it back as `after` for the next page (or the next sync)
    more: bool


class UnknownAward(LookupError):
    """No award has this reference."""


class RefusedChange(ValueError):
    """A change to an award that the agency's rules refuse (e.g. a grant over its cap)."""


class AlreadyWithdrawn(RefusedChange):
    """The award is withdrawn: it changes no more."""


@dataclass(frozen=True, slots=True)
class NewAward:
    """An award to add at run time (control API), in pence."""

    person_ref: str
    amount: int
    confirmed: bool


@dataclass
class AwardStore(Generic[R]):
    """Versioned records by reference, in change order."""

    history: dict[str, list[Versioned[R]]] = field(default_factory=dict)
    _sequences: list[int] = field(default_factory=list)  # current versions' sequences, sorted
    _by_sequence: dict[int, Versioned[R]] = field(default_factory=dict)
    _listeners: list[Callable[[Versioned[R]], None]] = field(default_factory=list)
    _counter: int = 0
    _last_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def last_sequence(self) -> int:
        """The sequence number of the latest change (0 before any)."""
        return self._counter

    def _tick(self) -> datetime:
        """Now, strictly after the last change: times order changes like their sequences."""
        self._last_time = max(datetime.now(UTC), self._last_time + timedelta(microseconds=1))
        return self._last_time

    def put(self, record: R) -> Versioned[R]:
        """Store a new record, or a new version of one; tell the listeners."""
        versions = self.history.setdefault(record.reference, [])
        if versions:
            old = versions[-1].sequence
            self._sequences.pop(bisect.bisect_left(self._sequences, old))
            del self._by_sequence[old]
        self._counter += 1
        sequence = self._counter
        entry = Versioned(record, len(versions) + 1, sequence, self._tick())
        versions.append(entry)
        self._sequences.append(sequence)
        self._by_sequence[sequence] = entry
        for listener in self._listeners:
            listener(entry)
        return entry

    def listen(self, listener: Callable[[Versioned[R]], None]) -> None:
        """Call listener with every version stored from now on."""
        self._listeners.append(listener)

    def get(self, reference: str) -> Versioned[R]:
        """The current version; UnknownAward if there is none."""
        try:
            return self.history[reference][-1]
        except KeyError:
            raise UnknownAward(f"no award {reference!r} in this sandbox") from None

    def previous(self, entry: Versioned[R]) -> Versioned[R] | None:
        """The version before this one, if any."""
        versions = self.history[entry.record.reference]
        return versions[entry.version - 2] if entry.version > 1 else None

    def current(self) -> list[Versioned[R]]:
        """Every record's current version, in change order."""
        return [self._by_sequence[s] for s in self._sequences]

    def page(
        self,
        *,
        after: int,
        limit: int,
        where: Callable[[Versioned[R]], bool] = lambda entry: True,
    ) -> Page[R]:
        """Up to limit current versions changed after sequence `after` (and matching where)."""
        entries: list[Versioned[R]] = []
        more = False
        for sequence in self._sequences[bisect.bisect_right(self._sequences, after) :]:
            entry = self._by_sequence[sequence]
            if not where(entry):
                continue
            if len(entries) == limit:
                more = True
                break
            entries.append(entry)
        return Page(entries, entries[-1].sequence if entries else after, more)
