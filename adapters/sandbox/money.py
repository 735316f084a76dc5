"""Money as the agencies write it: pence inside a sandbox, pounds and pence on the wire."""

import re
from decimal import Decimal

_POUNDS = re.compile(r"-?\d+\.\d{2}")
_GROUPED = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)\.\d{2}")


def pounds(pence: int, *, grouped: bool = False) -> str:
    """Pence as pounds with two decimals: "25000.00", or "25,000.00" when grouped."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole:,}.{part:02d}" if grouped else f"{sign}{whole}.{part:02d}"


def parse_pounds(text: str, *, grouped: bool = False) -> int:
    """ "25000.00" (grouped: "25,000.00" too) as pence; ValueError for anything else."""
    text = text.strip()
    pattern = _GROUPED if grouped else _POUNDS
    if not pattern.fullmatch(text):
        example = "25,000.00" if grouped else "25000.00"
        raise ValueError(f"{text!r} is not an amount in pounds and pence like {example}")
    return int(text.replace(",", "").replace(".", ""))


def as_decimal(pence: int) -> Decimal:
    """Pence as a Decimal number of pounds, exact to the penny."""
    return Decimal(pence).scaleb(-2)


def from_decimal(value: Decimal) -> int:
    """A Decimal number of pounds as pence; ValueError if it has fractions of a penny."""
    scaled = value.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has fractions of a penny")
    return int(scaled)


def split(total: int, parts: int) -> list[int]:
    """total pence in `parts` equal instalments, the last one taking the odd pence."""
    each = total // parts
    return [each] * (parts - 1) + [total - each * (parts - 1)]
