"""Adjusting an allocation after the agency amends or withdraws its award.

An award changes; the ledger is never edited. The change becomes an adjustment: a transfer
that tops the pot up, or one that takes money back to the agency. Rules:
- a top-up is made in full (the stream's cap is judged where the ledger is, not here);
- a take-back takes at most what the pot has free: money already spent or held for booked
  support stays where it is, and the part that could not be taken is reported as unmet,
  never forced;
- an indicative allocation has no money in the ledger yet, so its change is made in full;
- in every case requested = applied - unmet, and applied never goes past the request.
"""

from dataclasses import dataclass


class InvalidAdjustment(ValueError):
    """An adjustment the rules cannot make sense of; a programming error, never a user's."""


@dataclass(frozen=True, slots=True)
class AdjustmentPlan:
    """What an amended award does to one allocation, in signed pence (+ tops up)."""

    requested: int  # the change the agency's new amount asks for
    applied: int  # the change made: moved in the ledger, or to the indicative amount
    unmet: int  # the part of a take-back that stays, because it is spent or held


def plan_adjustment(*, current: int, target: int, available: int | None) -> AdjustmentPlan:
    """Move an allocation of `current` pence towards `target`.

    `available` is what the stream's pot on the budget has free (not spent, not held), or
    None when the allocation is still indicative.
    """
    if current < 0 or target < 0:
        raise InvalidAdjustment("allocations and awards are never below zero")
    if available is not None and available < 0:
        raise InvalidAdjustment("a pot never has less than nothing free")
    requested = target - current
    if requested >= 0 or available is None:
        return AdjustmentPlan(requested=requested, applied=requested, unmet=0)
    taken = min(-requested, available)
    return AdjustmentPlan(requested=requested, applied=-taken, unmet=-requested - taken)
