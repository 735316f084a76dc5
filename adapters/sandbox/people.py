"""The people the Riverside agencies fund: the demo's budget holders and a few strangers.

Every Riverside agency records the council's person reference (`RC-…`), which onebudget
keeps as a person's `reference`; the NHS knows people by NHS number and DWP by National
Insurance number too. NHS numbers are in the 999 range, never issued to real patients;
National Insurance numbers use the QQ prefix, which is never issued either.
"""

from dataclasses import dataclass
from datetime import date


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit of an NHS number's first nine digits (None: unusable)."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    return None if check == 10 else check % 11


def nhs_number(serial: int) -> str:
    """A valid test-range NHS number (999 …) made from serial: the first usable one from it."""
    while (check := nhs_check_digit(f"999{serial:06d}")) is None:
        serial += 1
    return f"999{serial:06d}{check}"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone an agency funds, as the agencies know them."""

    reference: str
    name: str
    born: date
    nhs_number: str
    nino: str
    in_demo: bool  # False: onebudget's demo world does not know them


AMIRA = Person("RC-100231", "Amira Hussain", date(1979, 3, 14), nhs_number(231), "QQ102311A", True)
DANIEL = Person("RC-100587", "Daniel Okafor", date(1991, 9, 2), nhs_number(587), "QQ105872B", True)
MARGARET = Person(
    "RC-101142", "Margaret Ellis", date(1948, 11, 30), nhs_number(1142), "QQ111423C", True
)
PETER = Person("RC-100764", "Peter Walsh", date(1962, 7, 19), nhs_number(764), "QQ107644A", False)
GRACE = Person("RC-100915", "Grace Adeyemi", date(1985, 1, 8), nhs_number(915), "QQ109155D", False)
TOMASZ = Person(
    "RC-101388", "Tomasz Nowak", date(1956, 5, 27), nhs_number(1388), "QQ113886B", False
)
SOPHIE = Person(
    "RC-101406", "Sophie Turner", date(2003, 10, 11), nhs_number(1406), "QQ114067C", False
)

PEOPLE = {
    person.reference: person for person in (AMIRA, DANIEL, MARGARET, PETER, GRACE, TOMASZ, SOPHIE)
}


def person(reference: str) -> Person:
    """The person with this reference; one the agencies never met is made up consistently."""
    if reference in PEOPLE:
        return PEOPLE[reference]
    serial = sum(ord(c) * (i + 1) for i, c in enumerate(reference)) % 900_000 + 100_000
    return Person(
        reference,
        f"Person {reference}",
        date(1980, 1, 1),
        nhs_number(serial),
        f"QQ{serial:06d}A",
        False,
    )
