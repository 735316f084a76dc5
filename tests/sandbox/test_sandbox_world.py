"""The sandboxes fund the demo world's people with the demo's own figures, and strangers."""

from collections import Counter

from adapters.sandbox.people import PEOPLE, nhs_check_digit
from adapters.sandbox.runner import KINDS, RunningSandbox
from service.demo import PEOPLE as DEMO_PEOPLE
from tests.sandboxes import Agency, client_for


async def _awards(sandboxes: dict[str, RunningSandbox]) -> dict[str, list[dict[str, object]]]:
    """Each sandbox's awards as they stand (the session's sandboxes, reset)."""
    found = {}
    for kind in KINDS:
        async with client_for(sandboxes[kind]) as client:
            agency = Agency(sandboxes[kind], client)
            await agency.control("POST", "/reset")
            found[kind] = list((await agency.awards()).values())
    return found


async def test_each_demo_allocation_is_what_its_agency_awards(
    sandboxes: dict[str, RunningSandbox],
) -> None:
    awards = await _awards(sandboxes)
    demo = {person.reference for person in DEMO_PEOPLE}
    expected: Counter[tuple[str, str, str]] = Counter()
    for person in DEMO_PEOPLE:
        for kind, amount, status in person.allocations:
            expected[(person.reference, kind, status)] += amount
    funded: Counter[tuple[str, str, str]] = Counter()
    for kind, items in awards.items():
        for award in items:
            if award["person_ref"] in demo and award["status"] != "withdrawn":
                funded[(str(award["person_ref"]), kind, str(award["status"]))] += int(
                    award["amount"]
                )  # type: ignore[call-overload]
    health = {key: amount for key, amount in funded.items() if key[1] == "health"}
    assert {key: amount for key, amount in funded.items() if key[1] != "health"} == expected
    assert health  # the demo has no NHS agency yet; its people have health budgets all the same
    for kind, items in awards.items():
        assert {a["person_ref"] for a in items} - demo, (
            f"{kind} funds nobody onebudget does not know"
        )


def test_the_people_agencies_know_are_the_demo_s() -> None:
    by_reference = {person.reference: person for person in DEMO_PEOPLE}
    for person in PEOPLE.values():
        assert person.in_demo == (person.reference in by_reference)
        if person.in_demo:
            demo = by_reference[person.reference]
            assert (person.name, person.born) == (demo.name, demo.born)
        number = person.nhs_number
        assert number.startswith("999") and nhs_check_digit(number[:9]) == int(number[9])
