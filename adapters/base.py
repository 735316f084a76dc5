"""What every agency adapter is: one small protocol, and the types it speaks in.

An adapter reads an agency's awards after a cursor and reports spend lines back. It knows
its agency's wire format and nothing of onebudget's storage: the sync (adapters.sync) turns
what it reads into allocations through the feature services, and keeps the cursor.

    class MyAgency:
        kind = "myagency"
        async def fetch_awards(self, cursor: str | None) -> AwardPage: ...
        async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]: ...
        def read(self, raw: str) -> AwardRecord | ParseFailure | None: ...
        async def aclose(self) -> None: ...
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from service.syncs.vocabulary import DeliveryStatus

__all__ = ["DeliveryStatus"]  # re-exported: adapters report in the service's own words

if TYPE_CHECKING:
    from adapters.http import CallPolicy


class AwardStatus(StrEnum):
    """An award as onebudget sees it, whatever the agency calls it."""

    CONFIRMED = "confirmed"  # money to spend
    INDICATIVE = "indicative"  # shown, not spendable yet
    WITHDRAWN = "withdrawn"  # nothing funded any more


@dataclass(frozen=True, slots=True)
class AwardRecord:
    """One version of one award, read from the agency's system; amounts in pence."""

    reference: str  # the agency's own reference for the award
    version: int  # rises with every change the agency makes to it
    person_ref: str  # the council's person reference (onebudget's person.reference)
    amount: int  # what the agency funds over the period, in pence
    status: AwardStatus
    period: tuple[date, date] | None  # the dates the award funds, if it says
    raw: str  # the record as the agency sent it (kept with a dead letter)

    @property
    def funded(self) -> int:
        """What onebudget should allocate: nothing once withdrawn."""
        return 0 if self.status is AwardStatus.WITHDRAWN else self.amount


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """A record the adapter could not read: why, and the record exactly as sent."""

    reason: str
    raw: str
    reference: str | None = None  # when the broken record still names itself
    version: int | None = None


@dataclass(frozen=True, slots=True)
class AwardPage:
    """Records changed after a cursor, oldest change first, and where the next read starts."""

    items: list[AwardRecord | ParseFailure]
    next_cursor: str | None  # keep it: the next sync reads only what changed after it
    more: bool  # another page waits now
    passed: tuple[str, ...] = ()  # references of records read whole that are no award (yet)


@dataclass(frozen=True, slots=True)
class ReportLine:
    """What an agency's money paid for: one spend line (amount in pence, more than 0)."""

    category: str
    on: date
    amount: int
    reason: str
    description: str | None = None
    payee: str | None = None


@dataclass(frozen=True, slots=True)
class SpendReport:
    """One delivery to an agency; the agency records a delivery id once, however often sent."""

    delivery_id: str
    person_ref: str
    lines: tuple[ReportLine, ...]
    award_ref: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The agency's answer to one delivery."""

    delivery_id: str
    status: DeliveryStatus
    receipt: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """An agency's secrets, read from a file or the settings; never logged or stored."""

    values: dict[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> str:
        if name not in self.values:
            raise MissingCredential(name)
        return self.values[name]


class MissingCredential(KeyError):
    """The credentials lack a value the adapter needs."""

    def __str__(self) -> str:
        return f"the agency's credentials have no {self.args[0]!r}"


class AgencyAdapter(Protocol):
    """Speaks to one agency's system."""

    kind: ClassVar[str]

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """Awards changed after `cursor` (None: from the beginning), one page."""
        ...

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """Report spend lines; one result per report, in order."""
        ...

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """One record as `AwardRecord.raw` or `ParseFailure.raw` kept it (None: no award)."""
        ...

    async def aclose(self) -> None:
        """Close its connections."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """What an adapter is built from: where the agency is, its secrets, how to call it."""

    url: str
    credentials: Credentials
    policy: "CallPolicy"
    page_size: int = 100


def failure_of(exc: Exception) -> str:
    """A parse error as a dead letter's reason: what was wrong, in one line."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors()[:3]:
            where = ".".join(str(p) for p in error.get("loc", ())) or "record"
            parts.append(f"{where}: {error.get('msg', '')}")
        return "; ".join(parts)
    return str(exc) or type(exc).__name__
