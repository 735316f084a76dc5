"""The pooling engine: how one spend is split across the streams that fund a budget.

For a spend of `amount` pence (> 0) in `category`, every split `split_spend` returns holds:

- the lines add up to exactly `amount`, and every line is more than zero;
- every line's stream is eligible for the category: flexible money (categories None) pays
  for anything, ring-fenced money only for its own categories;
- no line is more than its stream's available money, and no stream appears twice;
- unless the person chose the split, lines follow `funding_order` and fill greedily:
  ring-fenced before flexible money, and within each, money returned if unspent before
  money carried forward, so the person keeps the freest money longest;
- a line needs its agency's approval exactly when it, added to what the stream paid lately
  for the same purchase (`recent_amount`), is more than the stream's approval threshold:
  splitting a purchase into small spends does not dodge approval;
- every line carries its reason in plain English, without a verb: whether the money was
  paid, held or released is said by whoever shows the line, since that can change later.

If the eligible money is less than `amount`, nothing is split: `InsufficientFunds` says how
much is eligible and why each stream given could not pay more. A preferred split is used
exactly as given when valid; otherwise `InvalidSplit` names every problem with it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from service.domain.errors import DomainError
from service.domain.vocabulary import Category, Unspent


@dataclass(frozen=True, slots=True)
class StreamFunds:
    """One stream's money on one budget, as the engine sees it."""

    stream_id: UUID
    agency_id: UUID
    name: str
    categories: frozenset[Category] | None  # None = flexible money (pays any category)
    unspent: Unspent  # RETURN money is "returned soonest"
    available: int  # pence, >= 0
    approval_threshold: int | None  # most paid for one purchase without approval
    recent_amount: int = 0  # paid lately for the same purchase (category, payee), pence

    def __post_init__(self) -> None:
        """Refuse a negative balance: the ledger never lets a stream go below zero."""
        if self.available < 0:
            raise ValueError(f"available must be >= 0, got {self.available}")
        if self.recent_amount < 0:
            raise ValueError(f"recent_amount must be >= 0, got {self.recent_amount}")


@dataclass(frozen=True, slots=True)
class SplitLine:
    """One line of the split the person asked for."""

    stream_id: UUID
    amount: int


@dataclass(frozen=True, slots=True)
class FundingLine:
    """How much one stream pays towards a spend, and why."""

    stream_id: UUID
    agency_id: UUID
    amount: int  # > 0
    reason: str
    needs_approval: bool  # recent_amount + amount > stream.approval_threshold


@dataclass(frozen=True, slots=True)
class StreamRefusal:
    """Why one stream could not pay (more) towards a refused spend."""

    stream_id: UUID
    available: int
    reason: str


class InsufficientFunds(DomainError):
    """The eligible money is less than the spend; says why each stream could not pay more."""

    def __init__(
        self,
        *,
        requested: int,
        eligible_amount: int,
        category: Category,
        streams: Sequence[StreamRefusal],
    ) -> None:
        asked = f"the {format_pence(requested)} asked for"
        shown = format_pence(eligible_amount)
        lead = f"Only {shown} of {asked}" if eligible_amount else f"None of {asked}"
        super().__init__(
            f"{lead} can be paid for {_words(category)}: see why each stream could not pay more."
        )
        self.requested = requested
        self.eligible_amount = eligible_amount
        self.streams = tuple(streams)


class InvalidSplit(DomainError):
    """The person's preferred split breaks the rules; lists every problem with it."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("The chosen split cannot be used. " + " ".join(problems))
        self.problems = tuple(problems)


def format_pence(amount: int) -> str:
    """Write pence as pounds: 12345 -> "£123.45"."""
    pounds, pence = divmod(abs(amount), 100)
    return f"{'-' if amount < 0 else ''}£{pounds:,}.{pence:02d}"


def eligible(stream: StreamFunds, category: Category) -> bool:
    """Whether the stream's rules let it pay for this category."""
    return stream.categories is None or category in stream.categories


def funding_order(streams: Iterable[StreamFunds]) -> list[StreamFunds]:
    """Order streams so the most restricted, soonest-returned money is used first."""
    return sorted(
        streams,
        key=lambda s: (
            s.categories is None,
            s.unspent is not Unspent.RETURN,
            len(s.categories or ()),
            s.name,
            s.stream_id,
        ),
    )


def split_spend(
    *,
    amount: int,
    category: Category,
    streams: Sequence[StreamFunds],
    preferred: Sequence[SplitLine] | None = None,
) -> tuple[FundingLine, ...]:
    """Split one spend across the streams, or refuse it saying why in words."""
    if amount <= 0:
        raise ValueError(f"amount must be > 0, got {amount}")
    by_id = {s.stream_id: s for s in streams}
    if len(by_id) != len(streams):
        raise ValueError("each stream may be given only once")
    if preferred is not None:
        return _use_preferred(amount, category, by_id, preferred)

    ordered = funding_order(streams)
    eligible_amount = sum(s.available for s in ordered if eligible(s, category))
    if eligible_amount < amount:
        raise InsufficientFunds(
            requested=amount,
            eligible_amount=eligible_amount,
            category=category,
            streams=[_refusal(s, category) for s in ordered],
        )
    lines: list[FundingLine] = []
    remaining = amount
    for stream in ordered:
        share = min(stream.available, remaining) if eligible(stream, category) else 0
        if share > 0:
            why = _WHY[stream.categories is not None, stream.unspent]
            reason = f"{format_pence(share)} from {stream.name}: {_nature(stream)}, {why}."
            lines.append(_line(stream, share, reason))
            remaining -= share
    return tuple(lines)


# Why a stream's place in the order is where it is: (ring-fenced?, unspent rule) -> words.
_WHY: dict[tuple[bool, Unspent], str] = {
    (True, Unspent.RETURN): "so used first",
    (True, Unspent.CARRY_FORWARD): "so used before any flexible money",
    (False, Unspent.RETURN): "so used after ring-fenced money, before money carried forward",
    (False, Unspent.CARRY_FORWARD): "so used last",
}


def _use_preferred(
    amount: int,
    category: Category,
    by_id: Mapping[UUID, StreamFunds],
    preferred: Sequence[SplitLine],
) -> tuple[FundingLine, ...]:
    """Use the person's split exactly as given, or raise InvalidSplit with every problem."""
    problems: list[str] = []
    seen: set[UUID] = set()
    for line in preferred:
        stream = by_id.get(line.stream_id)
        label = stream.name if stream is not None else f"stream {line.stream_id}"
        if stream is None:
            problems.append(f"Stream {line.stream_id} is not one of this budget's streams.")
        if line.stream_id in seen:
            problems.append(f"The split lists {label} more than once.")
        seen.add(line.stream_id)
        if line.amount <= 0:
            problems.append(
                f"The amount from {label} must be more than £0.00, not {format_pence(line.amount)}."
            )
        if stream is not None and not eligible(stream, category):
            problems.append(
                f"{stream.name} is {_ring_fence(stream)}, so it cannot pay for {_words(category)}."
            )
        if stream is not None and line.amount > stream.available:
            problems.append(
                f"{stream.name} has {_available(stream)}, "
                f"so it cannot pay {format_pence(line.amount)}."
            )
    total = sum(line.amount for line in preferred)
    if total != amount:
        problems.append(
            f"The lines add up to {format_pence(total)}, but the spend is {format_pence(amount)}."
        )
    if problems:
        # A stream listed three times is one problem, said once.
        raise InvalidSplit(tuple(dict.fromkeys(problems)))
    return tuple(
        _line(
            by_id[line.stream_id],
            line.amount,
            f"{format_pence(line.amount)} from {by_id[line.stream_id].name}, "
            f"as the person chose in their split: {_nature(by_id[line.stream_id])}.",
        )
        for line in preferred
    )


def _line(stream: StreamFunds, amount: int, reason: str) -> FundingLine:
    """One funding line, flagged when it takes the purchase over the approval threshold."""
    threshold = stream.approval_threshold
    needs_approval = threshold is not None and stream.recent_amount + amount > threshold
    if needs_approval:
        lately = (
            f" (counting {format_pence(stream.recent_amount)} paid lately for the same purchase)"
            if stream.recent_amount
            else ""
        )
        reason += (
            f" Over the {format_pence(threshold or 0)} that {stream.name} pays for one"
            f" purchase without asking{lately}, so its agency decides."
        )
    return FundingLine(
        stream_id=stream.stream_id,
        agency_id=stream.agency_id,
        amount=amount,
        reason=reason,
        needs_approval=needs_approval,
    )


def _refusal(stream: StreamFunds, category: Category) -> StreamRefusal:
    """Why this stream could not pay (more) towards a spend in the category."""
    if eligible(stream, category):
        reason = _available(stream)
    else:
        reason = f"{_ring_fence(stream)}; cannot pay for {_words(category)}"
    return StreamRefusal(stream_id=stream.stream_id, available=stream.available, reason=reason)


def _available(stream: StreamFunds) -> str:
    """The stream's balance as a limit: "only £30.00 available" or "nothing available"."""
    if stream.available == 0:
        return "nothing available"
    return f"only {format_pence(stream.available)} available"


def _nature(stream: StreamFunds) -> str:
    """What kind of money the stream is, e.g. "flexible money, returned if unspent"."""
    kind = _ring_fence(stream) if stream.categories is not None else "flexible money"
    rule = "returned" if stream.unspent is Unspent.RETURN else "carried forward"
    return f"{kind}, {rule} if unspent"


def _ring_fence(stream: StreamFunds) -> str:
    """The stream's ring fence in words, e.g. "ring-fenced to equipment and transport"."""
    # Vocabulary order, so the words come out the same whatever order the set iterates in.
    names = [_words(c) for c in Category if c in (stream.categories or ())]
    if not names:
        return "ring-fenced to no category"
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"ring-fenced to {joined}"


def _words(category: Category) -> str:
    """A category as words: "personal_care" -> "personal care"."""
    return category.value.replace("_", " ")
