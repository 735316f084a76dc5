"""Refusals as typed results: what a mutation answers instead of its object when the rules
refuse it. Their codes are REST's problem slugs (service.errors), not a second table."""

import uuid

import strawberry

from schema.scalars import Money
from schema.types import Ctx, Stream, _stream


@strawberry.type(description="One field of the input that cannot be used, and why.")
class FieldProblem:
    field: str
    message: str


@strawberry.type(
    description="A write the rules refused; nothing was changed. `code` is the slug of the"
    " REST problem type for the same refusal (outside-period, invalid-split, wrong-state, …)."
)
class Refusal:
    code: str
    message: str
    fields: list[FieldProblem] = strawberry.field(
        description="For validation-error: each field that cannot be used."
    )


@strawberry.type(description="Why one stream could not pay more.")
class StreamShortfall:
    available: Money
    reason: str
    _stream_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The stream.")
    async def stream(self, info: Ctx) -> Stream:
        """The stream that could not pay more."""
        return await _stream(info, self._stream_id)


@strawberry.type(
    description="Not enough eligible money: how much could be paid, and why each stream could"
    " not pay more. Nothing was paid."
)
class InsufficientFunds:
    requested_amount: Money
    eligible_amount: Money
    message: str
    streams: list[StreamShortfall]
