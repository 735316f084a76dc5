"""Reports an agency receives (what its money paid for), de-duplicated by delivery id."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from service.domain.vocabulary import Category


class ReportError(ValueError):
    """A report the agency cannot accept, and why (said back to the sender)."""


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One spend line: what the agency's money paid for."""

    category: str
    date: date
    amount: int  # pence, more than 0
    reason: str
    description: str | None = None
    payee: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One delivery: a person's spend lines paid from this agency's money."""

    delivery_id: str
    person_ref: str
    lines: tuple[ReportLine, ...]
    award_ref: str | None = None


def check_report(report: Report) -> Report:
    """The report if every field is usable; ReportError naming the first that is not."""
    if not report.delivery_id.strip():
        raise ReportError("the delivery id is empty")
    if not report.person_ref.strip():
        raise ReportError("the person reference is empty")
    if not report.lines:
        raise ReportError("the report has no spend lines")
    categories = {c.value for c in Category}
    for number, line in enumerate(report.lines, start=1):
        if line.category not in categories:
            raise ReportError(f"line {number}: unknown category {line.category!r}")
        if line.amount <= 0:
            raise ReportError(f"line {number}: the amount must be more than 0")
        if not line.reason.strip():
            raise ReportError(f"line {number}: the reason is empty")
    return report


@dataclass
class Received:
    """A report as first received, and how often it was delivered."""

    report: Report
    receipt: str  # the agency's own id for it
    received_at: datetime
    deliveries: int = 1
    differing_copies: int = 0  # later deliveries under the same id with other content

    def as_json(self) -> dict[str, Any]:
        """The control API's view of it (amounts in pence, dates ISO)."""
        report = asdict(self.report)
        report["lines"] = [{**line, "date": line["date"].isoformat()} for line in report["lines"]]
        return {
            **report,
            "receipt": self.receipt,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "deliveries": self.deliveries,
            "differing_copies": self.differing_copies,
        }


@dataclass
class Inbox:
    """Every report received once per delivery id; repeats only counted."""

    prefix: str  # of the agency's receipt ids, e.g. "DPR"
    _received: dict[str, Received] = field(default_factory=dict)

    def accept(self, report: Report) -> tuple[Received, bool]:
        """Record a checked report; (what is on file, True if it is new)."""
        check_report(report)
        known = self._received.get(report.delivery_id)
        if known is not None:
            known.deliveries += 1
            known.differing_copies += known.report != report
            return known, False
        receipt = f"{self.prefix}-{len(self._received) + 1:06d}"
        received = Received(report, receipt, datetime.now(UTC))
        self._received[report.delivery_id] = received
        return received, True

    def get(self, delivery_id: str) -> Received | None:
        """The report received under this delivery id, if any."""
        return self._received.get(delivery_id)

    def all(self) -> list[Received]:
        """Every report, first received first."""
        return list(self._received.values())
