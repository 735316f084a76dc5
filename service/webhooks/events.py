"""The events partners are told of, and what each carries: ids and amounts, nothing personal.

Services build events here and hand them to the statement that makes the change
(service.webhooks.outbox). A message's body is `{"type", "timestamp", "data"}`; `data` is
what the builders below return, and what docs/api.md lists.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.domain.vocabulary import EventType

# budget.low by default: available money under a tenth of what the budget was funded with.
DEFAULT_LOW_PERCENT = 10


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to a budget; its id is the webhook-id every endpoint sees."""

    type: EventType
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def _ids(**ids: uuid.UUID | None) -> dict[str, str | None]:
    return {name: None if value is None else str(value) for name, value in ids.items()}


def spend_event(
    type_: EventType,
    *,
    budget_id: uuid.UUID,
    spend_id: uuid.UUID,
    amount: int,
    status: str,
    lines: Iterable[tuple[uuid.UUID, uuid.UUID, int]],
    **extra: Any,
) -> Event:
    """A spend.* event: the spend, its status, and each line's (stream, agency, amount)."""
    return Event(
        type_,
        {
            **_ids(budget_id=budget_id, spend_id=spend_id),
            "amount": amount,
            "status": status,
            "lines": [
                {**_ids(stream_id=stream, agency_id=agency), "amount": share}
                for stream, agency, share in lines
            ],
            **extra,
        },
    )


def allocation_event(
    type_: EventType,
    *,
    budget_id: uuid.UUID,
    allocation_id: uuid.UUID,
    stream_id: uuid.UUID,
    amount: int,
    **extra: Any,
) -> Event:
    """An allocation.* event: the allocation, its stream and its amount now."""
    ids = _ids(budget_id=budget_id, allocation_id=allocation_id, stream_id=stream_id)
    return Event(type_, {**ids, "amount": amount, **extra})


def budget_low(
    *, budget_id: uuid.UUID, funded: int, before: int, after: int, percent: int
) -> list[Event]:
    """[budget.low] if the change took available money from at or above `percent` of the
    funded money to below it; else []. Funded = available + held + spent, across streams."""
    threshold = funded * percent  # compared in hundredths, so no rounding
    if not after * 100 < threshold <= before * 100:
        return []
    data = {"budget_id": str(budget_id), "available": after, "funded": funded, "percent": percent}
    return [Event(EventType.BUDGET_LOW, data)]
