"""What services return for spends and commitments, and how a line's reason reads now.

A line's stored reason says which stream pays and why (the pooling engine's words); whether
that money was paid, is held, awaits approval or was released can change after the line is
written, so the verb is added when the line is shown.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from service.domain.vocabulary import Approval, Category, SpendKind, SpendStatus
from service.spends.models import NewLine, NewSpend, Spend, SpendLine
from service.views import view_of


@dataclass(frozen=True, slots=True)
class LineView:
    """What one stream pays (or paid, or holds) of a spend, and why."""

    stream_id: uuid.UUID
    agency_id: uuid.UUID
    amount: int
    reason: str
    approval: Approval


@dataclass(frozen=True, slots=True)
class SpendView:
    """A spend, commitment or reversal, with its lines."""

    id: uuid.UUID
    budget_id: uuid.UUID
    kind: SpendKind
    status: SpendStatus
    amount: int
    posted_amount: int | None
    category: Category
    description: str
    payee: str | None
    occurred_on: date | None
    expires_at: datetime | None
    reverses_id: uuid.UUID | None
    created_at: datetime
    lines: tuple[LineView, ...]


_RELEASED = {
    SpendStatus.REJECTED: "Released, as it was rejected: ",
    SpendStatus.VOIDED: "Released, as it was voided: ",
    SpendStatus.EXPIRED: "Released, as it expired: ",
}


def line_reason(spend: Spend | NewSpend, line: SpendLine | NewLine) -> str:
    """The line's reason as it reads now: paid, held, awaiting approval or released."""
    status = SpendStatus(spend.status)
    if spend.kind == SpendKind.REVERSAL:
        prefix = ""
    elif status is SpendStatus.POSTED:
        prefix = "Paid, as its agency approved: " if line.approval == Approval.APPROVED else "Paid "
    elif status is SpendStatus.REVERSED:
        prefix = "Paid, then reversed: "
    elif status in _RELEASED:
        prefix = _RELEASED[status]
    elif line.approval == Approval.AWAITING:
        prefix = "Awaiting approval: "
    else:
        prefix = "Held: "
    return prefix + line.reason


def spend_view(spend: Spend | NewSpend, lines: Sequence[SpendLine | NewLine]) -> SpendView:
    """The view of a spend row and its lines."""
    return view_of(
        SpendView,
        spend,
        kind=SpendKind(spend.kind),
        status=SpendStatus(spend.status),
        category=Category(spend.category),
        lines=tuple(
            view_of(
                LineView, line, approval=Approval(line.approval), reason=line_reason(spend, line)
            )
            for line in lines
        ),
    )
