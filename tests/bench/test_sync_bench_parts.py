"""The small pure parts of `python -m bench.sync` (the bench itself is run on purpose, never in
the tests): the awards it gives the sandbox, and how the receiver counts duplicates."""

from collections import Counter

from bench.receiver import Receiver
from bench.sync.awards import YEARLY_PENCE, Truth, plan_awards


def test_the_planned_awards_are_as_many_as_asked_one_to_three_a_person() -> None:
    for count in (1, 2, 3, 10, 9_995):
        awards = plan_awards(count)
        assert len(awards) == count
        per_person = Counter(award.person_ref for award in awards)
        assert set(per_person.values()) <= {1, 2, 3}
    awards = plan_awards(10_000)
    per_person = Counter(award.person_ref for award in awards)
    assert 1.8 < len(awards) / len(per_person) < 2.2  # two a person on average
    indicative = sum(not award.confirmed for award in awards)
    assert 800 < indicative < 1_200  # about one in ten
    assert all(YEARLY_PENCE[0] <= award.amount <= YEARLY_PENCE[1] for award in awards)
    assert len({award.amount % 100 for award in awards}) == 100  # any penny: checks to the penny
    assert plan_awards(500) == plan_awards(500)  # the same world every run


def test_the_truth_totals_awards_by_status_and_names_each_person_once() -> None:
    truth = Truth(
        [
            {"person_ref": "RC-1", "amount": 100, "status": "confirmed"},
            {"person_ref": "RC-2", "amount": 250, "status": "indicative"},
            {"person_ref": "RC-1", "amount": 7, "status": "confirmed"},
        ]
    )
    assert truth.count == 3
    assert truth.people == ["RC-1", "RC-2"]
    assert truth.total() == (3, 357)
    assert truth.total("confirmed") == (2, 107)


def test_a_message_taken_twice_is_a_duplicate_and_a_retry_is_not() -> None:
    receiver = Receiver(secret="whsec_unused")
    receiver.arrivals = [("a", 204), ("b", 500), ("b", 204), ("a", 200), ("c", 204)]
    assert receiver.delivered_twice() == ["a"]
