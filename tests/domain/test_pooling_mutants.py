"""The pooling engine's exact words, where the properties in test_pooling.py leave them free.

Written against the mutants `mutmut run` left alive (README, "Tests and quality"): every
refusal and reason is checked word for word, since a person reads them.
"""

from uuid import UUID

import pytest

from service.domain.pooling import (
    InsufficientFunds,
    InvalidSplit,
    SplitLine,
    StreamFunds,
    StreamRefusal,
    split_spend,
)
from service.domain.vocabulary import Category, Unspent

CARE = Category.PERSONAL_CARE


def funds(
    name: str,
    *,
    categories: frozenset[Category] | None = None,
    available: int = 10_000,
    threshold: int | None = None,
    recent: int = 0,
) -> StreamFunds:
    """A stream carried forward if unspent, with an id made from its name."""
    return StreamFunds(
        stream_id=UUID(int=sum(map(ord, name))),
        agency_id=UUID(int=900),
        name=name,
        categories=categories,
        unspent=Unspent.CARRY_FORWARD,
        available=available,
        approval_threshold=threshold,
        recent_amount=recent,
    )


def test_a_negative_balance_or_recent_amount_is_refused_saying_which() -> None:
    with pytest.raises(ValueError) as balance:
        funds("Care", available=-1)
    assert str(balance.value) == "available must be >= 0, got -1"
    with pytest.raises(ValueError) as recent:
        funds("Care", recent=-1)
    assert str(recent.value) == "recent_amount must be >= 0, got -1"


def test_programming_errors_in_a_split_say_what_was_wrong() -> None:
    care = funds("Care")
    with pytest.raises(ValueError) as zero:
        split_spend(amount=0, category=CARE, streams=[care])
    assert str(zero.value) == "amount must be > 0, got 0"
    with pytest.raises(ValueError) as twice:
        split_spend(amount=100, category=CARE, streams=[care, care])
    assert str(twice.value) == "each stream may be given only once"


def test_an_invalid_split_lists_its_problems_one_sentence_after_another() -> None:
    care = funds("Care", available=500)
    with pytest.raises(InvalidSplit) as refused:
        split_spend(
            amount=1_000, category=CARE, streams=[care], preferred=[SplitLine(care.stream_id, 600)]
        )
    assert refused.value.detail == (
        "The chosen split cannot be used."
        " Care has only £5.00 available, so it cannot pay £6.00."
        " The lines add up to £6.00, but the spend is £10.00."
    )


def test_approval_counts_what_the_stream_paid_lately_for_the_same_purchase() -> None:
    care = funds("Care", threshold=1_000, recent=600)
    (line,) = split_spend(amount=500, category=CARE, streams=[care])
    assert line.needs_approval
    assert line.reason == (
        "£5.00 from Care: flexible money, carried forward if unspent, so used last."
        " Over the £10.00 that Care pays for one purchase without asking"
        " (counting £6.00 paid lately for the same purchase), so its agency decides."
    )


def test_a_stream_that_pays_nothing_without_asking_sends_every_line_for_approval() -> None:
    care = funds("Care", threshold=0)
    (line,) = split_spend(amount=1, category=CARE, streams=[care])
    assert line.needs_approval
    assert line.reason.endswith(
        " Over the £0.00 that Care pays for one purchase without asking, so its agency decides."
    )


def test_a_stream_ring_fenced_to_nothing_says_so() -> None:
    fenced = funds("Closed Fund", categories=frozenset())
    with pytest.raises(InsufficientFunds) as refused:
        split_spend(amount=100, category=CARE, streams=[fenced])
    assert refused.value.streams == (
        StreamRefusal(
            fenced.stream_id, 10_000, "ring-fenced to no category; cannot pay for personal care"
        ),
    )


def test_three_categories_are_listed_in_vocabulary_order_with_commas_and_and() -> None:
    fenced = funds(
        "Kit Fund",
        categories=frozenset({Category.TRANSPORT, Category.EQUIPMENT, Category.RESPITE}),
    )
    with pytest.raises(InvalidSplit) as refused:
        split_spend(
            amount=100,
            category=CARE,
            streams=[fenced],
            preferred=[SplitLine(fenced.stream_id, 100)],
        )
    assert refused.value.problems == (
        "Kit Fund is ring-fenced to respite, equipment and transport,"
        " so it cannot pay for personal care.",
    )


def test_a_split_may_take_a_penny_or_every_penny_a_stream_has() -> None:
    small = funds("Small", available=300)
    care = funds("Care")
    chosen = [SplitLine(small.stream_id, 300), SplitLine(care.stream_id, 1)]
    lines = split_spend(amount=301, category=CARE, streams=[small, care], preferred=chosen)
    assert [(line.stream_id, line.amount) for line in lines] == [
        (small.stream_id, 300),
        (care.stream_id, 1),
    ]
