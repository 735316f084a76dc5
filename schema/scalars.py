"""Scalars: money in minor units, and ids that are the UUIDs REST uses."""

import uuid
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from service.api.fields import MAX_AMOUNT
from service.domain.errors import NotFound

# An amount in minor units of the budget's currency (pence for GBP). GraphQL's Int is 32-bit
# (about £21m), too small for totals and for REST's range, so money has its own scalar.
Money = NewType("Money", int)


def _money(value: Any) -> int:
    """An input amount: a whole number, no bigger than any amount may be."""
    if type(value) is not int or abs(value) > MAX_AMOUNT:
        raise ValueError(f"Money is a whole number of minor units up to {MAX_AMOUNT}, e.g. 6050")
    return value


MONEY = strawberry.scalar(
    name="Money",
    description="An amount in minor units of the budget's currency (pence for GBP), as a JSON"
    " integer: 6050 is £60.50. Sent amounts are whole numbers up to 1000000000000.",
    serialize=int,
    parse_value=_money,
)
SCALARS: dict[object, ScalarDefinition] = {Money: MONEY}


def parse_id(value: str, *, what: str) -> uuid.UUID:
    """An object id as sent; one that is not a UUID names nothing, like an unknown one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"No {what} {value} is within your reach.") from None
