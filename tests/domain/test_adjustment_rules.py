"""The adjustment rules, checked with hypothesis: never take what is spent or held."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.adjustments import InvalidAdjustment, plan_adjustment

pence = st.integers(min_value=0, max_value=10**12)


@given(current=pence, target=pence, available=pence)
def test_a_confirmed_allocation_never_gives_back_more_than_its_pot_has_free(
    current: int, target: int, available: int
) -> None:
    plan = plan_adjustment(current=current, target=target, available=available)
    assert plan.requested == target - current
    assert plan.requested == plan.applied - plan.unmet
    assert plan.unmet >= 0
    assert -plan.applied <= available  # the pot never goes below zero
    assert abs(plan.applied) <= abs(plan.requested)
    if plan.requested < 0:
        assert plan.applied <= 0
        # Everything that was free and asked for is taken: nothing is left behind needlessly.
        assert -plan.applied == min(-plan.requested, available)
    else:
        assert plan.applied == plan.requested and plan.unmet == 0


@given(current=pence, target=pence)
def test_an_indicative_allocation_changes_in_full(current: int, target: int) -> None:
    plan = plan_adjustment(current=current, target=target, available=None)
    assert (plan.applied, plan.unmet) == (target - current, 0)


def test_withdrawing_an_award_half_spent_takes_back_only_what_is_left() -> None:
    # A £1,200 award, £450 of it spent or held: withdrawn, £750 goes back, £450 stays.
    plan = plan_adjustment(current=120_000, target=0, available=75_000)
    assert (plan.requested, plan.applied, plan.unmet) == (-120_000, -75_000, 45_000)


def test_an_award_raised_tops_up_by_the_difference() -> None:
    plan = plan_adjustment(current=57_572, target=62_000, available=0)
    assert (plan.requested, plan.applied, plan.unmet) == (4_428, 4_428, 0)


@pytest.mark.parametrize(("current", "target", "available"), [(-1, 0, 0), (0, -1, 0), (10, 0, -1)])
def test_amounts_below_zero_are_a_programming_error(
    current: int, target: int, available: int
) -> None:
    with pytest.raises(InvalidAdjustment):
        plan_adjustment(current=current, target=target, available=available)
