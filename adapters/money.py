"""Agencies' money on the wire, read and written exactly: pounds-and-pence text to integer
pence and back, never through a float."""

import re
from decimal import Decimal, InvalidOperation

_POUNDS = re.compile(r"(-?)(\d+)\.(\d{2})")
_GROUPED = re.compile(r"(-?)(\d{1,3}(?:,\d{3})+|\d+)\.(\d{2})")


def parse_pounds(text: str, *, grouped: bool = False) -> int:
    """ "15600.00" (grouped: "25,000.00" too) as pence; ValueError for anything else."""
    match = (_GROUPED if grouped else _POUNDS).fullmatch(text.strip())
    if match is None:
        example = "25,000.00" if grouped else "25000.00"
        raise ValueError(f"{text!r} is not an amount in pounds and pence like {example}")
    sign, whole, part = match.groups()
    pence = int(whole.replace(",", "")) * 100 + int(part)
    return -pence if sign else pence


def pounds(pence: int, *, grouped: bool = False) -> str:
    """Pence as pounds with two decimals: "8500.00", or "8,500.00" when grouped."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole:,}.{part:02d}" if grouped else f"{sign}{whole}.{part:02d}"


def pence_of(value: Decimal | int | str) -> int:
    """A number of pounds (a JSON number read as Decimal) as pence; ValueError if it has
    fractions of a penny or is not a number."""
    try:
        scaled = Decimal(value).scaleb(2)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number of pounds") from None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{value} is not a whole number of pence")
    return int(scaled)


def as_pounds(pence: int) -> Decimal:
    """Pence as an exact Decimal number of pounds (for JSON numbers)."""
    return Decimal(pence).scaleb(-2)
