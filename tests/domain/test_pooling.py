"""The pooling engine: examples for each rule, then properties over random budgets."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.domain.pooling import (
    FundingLine,
    InsufficientFunds,
    InvalidSplit,
    SplitLine,
    StreamFunds,
    StreamRefusal,
    eligible,
    format_pence,
    funding_order,
    split_spend,
)
from service.domain.vocabulary import Category, Unspent

CARE = Category.PERSONAL_CARE
HOUSING = Category.HOUSING_ADAPTATION
EQUIPMENT = Category.EQUIPMENT
TRANSPORT = Category.TRANSPORT
RETURN = Unspent.RETURN
CARRY = Unspent.CARRY_FORWARD
AGENCY = UUID(int=900)


def stream(
    n: int,
    name: str | None = None,
    *,
    categories: Iterable[Category] | None = None,
    unspent: Unspent = CARRY,
    available: int = 10_000,
    threshold: int | None = None,
) -> StreamFunds:
    """A stream with id UUID(int=n); flexible, carried forward and £100.00 unless told."""
    return StreamFunds(
        stream_id=UUID(int=n),
        agency_id=AGENCY,
        name=name or f"Stream {n}",
        categories=None if categories is None else frozenset(categories),
        unspent=unspent,
        available=available,
        approval_threshold=threshold,
    )


def paid(lines: Iterable[FundingLine]) -> list[tuple[UUID, int]]:
    """The lines as (stream id, amount) pairs, in order."""
    return [(line.stream_id, line.amount) for line in lines]


# --- format_pence and eligible -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pence", "words"),
    [(12345, "£123.45"), (5, "£0.05"), (0, "£0.00"), (100000, "£1,000.00"), (-250, "-£2.50")],
)
def test_format_pence_writes_pounds_and_pence(pence: int, words: str) -> None:
    assert format_pence(pence) == words


def test_flexible_stream_is_eligible_for_any_category() -> None:
    assert all(eligible(stream(1), category) for category in Category)


def test_ring_fenced_stream_is_eligible_only_for_its_own_categories() -> None:
    dfg = stream(1, categories=[HOUSING, EQUIPMENT])
    assert eligible(dfg, HOUSING) and eligible(dfg, EQUIPMENT)
    assert not eligible(dfg, CARE)


# --- programming errors --------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1])
def test_a_spend_of_zero_or_less_is_a_programming_error(amount: int) -> None:
    with pytest.raises(ValueError):
        split_spend(amount=amount, category=CARE, streams=[stream(1)])


def test_the_same_stream_given_twice_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        split_spend(amount=100, category=CARE, streams=[stream(1), stream(1)])


def test_a_stream_cannot_have_a_negative_balance() -> None:
    with pytest.raises(ValueError):
        stream(1, available=-1)


# --- order ---------------------------------------------------------------------------------


def test_ring_fenced_money_is_used_before_flexible_money() -> None:
    flexible = stream(1, "Care", unspent=RETURN)
    fenced = stream(2, "Carers", categories=[CARE])
    lines = split_spend(amount=15_000, category=CARE, streams=[flexible, fenced])
    assert paid(lines) == [(fenced.stream_id, 10_000), (flexible.stream_id, 5_000)]


def test_money_returned_if_unspent_is_used_before_money_carried_forward() -> None:
    carried = stream(1, "A", categories=[CARE])
    returned = stream(2, "B", categories=[CARE, TRANSPORT, EQUIPMENT], unspent=RETURN)
    assert funding_order([carried, returned]) == [returned, carried]
    lines = split_spend(amount=500, category=CARE, streams=[carried, returned])
    assert paid(lines) == [(returned.stream_id, 500)]


def test_among_flexible_money_returned_is_used_before_carried_forward() -> None:
    carried = stream(1, "A")
    returned = stream(2, "B", unspent=RETURN)
    assert funding_order([carried, returned]) == [returned, carried]


def test_more_restricted_stream_is_used_first() -> None:
    wide = stream(1, "A", categories=[CARE, TRANSPORT])
    narrow = stream(2, "B", categories=[CARE])
    assert funding_order([wide, narrow]) == [narrow, wide]


def test_ties_are_broken_by_name_then_stream_id() -> None:
    b, a2, a1 = stream(3, "B"), stream(2, "A"), stream(1, "A")
    assert funding_order([b, a2, a1]) == [a1, a2, b]


# --- filling -------------------------------------------------------------------------------


def test_never_more_than_a_stream_has_and_the_rest_comes_from_the_next() -> None:
    first = stream(1, "A", categories=[CARE], available=3_000)
    second = stream(2, "B", available=10_000)
    lines = split_spend(amount=4_500, category=CARE, streams=[second, first])
    assert paid(lines) == [(first.stream_id, 3_000), (second.stream_id, 1_500)]


def test_streams_not_eligible_for_the_category_do_not_pay() -> None:
    equipment = stream(1, categories=[EQUIPMENT], unspent=RETURN)
    care = stream(2)
    lines = split_spend(amount=2_000, category=CARE, streams=[equipment, care])
    assert paid(lines) == [(care.stream_id, 2_000)]


def test_no_line_for_streams_that_pay_nothing() -> None:
    empty = stream(1, categories=[CARE], available=0)
    unused = stream(3, "Z")
    used = stream(2, "A")
    lines = split_spend(amount=100, category=CARE, streams=[empty, unused, used])
    assert paid(lines) == [(used.stream_id, 100)]


def test_each_line_says_why_in_plain_english() -> None:
    dfg = stream(1, "Housing DFG", categories=[HOUSING], unspent=RETURN, available=12_000)
    fenced = stream(2, "Home Kit", categories=[HOUSING, EQUIPMENT], available=1_000)
    returned = stream(3, "Care Grant", unspent=RETURN, available=1_000)
    flexible = stream(4, "Personal Budget")
    lines = split_spend(amount=15_000, category=HOUSING, streams=[flexible, returned, fenced, dfg])
    assert [line.reason for line in lines] == [
        "£120.00 from Housing DFG: ring-fenced to housing adaptation, returned if"
        " unspent, so used first.",
        "£10.00 from Home Kit: ring-fenced to housing adaptation and equipment, carried"
        " forward if unspent, so used before any flexible money.",
        "£10.00 from Care Grant: flexible money, returned if unspent, so used after"
        " ring-fenced money, before money carried forward.",
        "£10.00 from Personal Budget: flexible money, carried forward if unspent, so used last.",
    ]


def test_a_line_needs_approval_only_when_over_the_streams_threshold() -> None:
    at = stream(1, "A", categories=[CARE], available=1_000, threshold=1_000)
    over = stream(2, "B", available=1_000, threshold=999)
    free = stream(3, "C", available=1_000)
    lines = split_spend(amount=3_000, category=CARE, streams=[at, over, free])
    assert [line.needs_approval for line in lines] == [False, True, False]
    assert all(line.agency_id == AGENCY for line in lines)


# --- not enough money ----------------------------------------------------------------------


def test_insufficient_funds_says_how_much_is_eligible_and_why_each_stream_could_not_pay() -> None:
    equipment = stream(1, "Kit Fund", categories=[EQUIPMENT, TRANSPORT], available=5_000)
    care = stream(2, "Care Grant", categories=[CARE], available=12_000)
    empty = stream(3, "Personal Budget", available=0)
    flexible = stream(4, "Top Up", available=3_000)
    with pytest.raises(InsufficientFunds) as refused:
        split_spend(amount=20_000, category=CARE, streams=[equipment, care, empty, flexible])
    error = refused.value
    assert error.requested == 20_000
    assert error.eligible_amount == 15_000
    assert error.detail == (
        "Only £150.00 of the £200.00 asked for can be paid for personal care:"
        " see why each stream could not pay more."
    )
    assert error.streams == (
        StreamRefusal(care.stream_id, 12_000, "only £120.00 available"),
        StreamRefusal(
            equipment.stream_id,
            5_000,
            "ring-fenced to equipment and transport; cannot pay for personal care",
        ),
        StreamRefusal(empty.stream_id, 0, "nothing available"),
        StreamRefusal(flexible.stream_id, 3_000, "only £30.00 available"),
    )


def test_insufficient_funds_when_no_stream_may_pay_for_the_category() -> None:
    with pytest.raises(InsufficientFunds) as refused:
        split_spend(amount=100, category=CARE, streams=[stream(1, categories=[TRANSPORT])])
    assert refused.value.eligible_amount == 0
    assert refused.value.detail.startswith("None of the £1.00 asked for can be paid")


# --- the person's preferred split ----------------------------------------------------------


def test_a_valid_preferred_split_is_used_exactly_as_given() -> None:
    fenced = stream(1, "Carers", categories=[CARE], unspent=RETURN, threshold=100)
    flexible = stream(2, "Personal Budget")
    chosen = [SplitLine(flexible.stream_id, 700), SplitLine(fenced.stream_id, 300)]
    lines = split_spend(amount=1_000, category=CARE, streams=[fenced, flexible], preferred=chosen)
    assert paid(lines) == [(flexible.stream_id, 700), (fenced.stream_id, 300)]
    assert [line.needs_approval for line in lines] == [False, True]
    assert lines[1].reason == (
        "£3.00 from Carers, as the person chose in their split:"
        " ring-fenced to personal care, returned if unspent. Over the £1.00 that Carers pays"
        " for one purchase without asking, so its agency decides."
    )


def test_every_problem_with_a_preferred_split_is_named() -> None:
    kit = stream(1, "Kit Fund", categories=[EQUIPMENT])
    small = stream(2, "Top Up", available=500)
    care = stream(3, "Care Grant")
    stranger = UUID(int=99)
    chosen = [
        SplitLine(stranger, 100),
        SplitLine(kit.stream_id, 100),
        SplitLine(small.stream_id, 600),
        SplitLine(care.stream_id, 0),
        SplitLine(care.stream_id, 0),
    ]
    with pytest.raises(InvalidSplit) as refused:
        split_spend(amount=1_000, category=CARE, streams=[kit, small, care], preferred=chosen)
    assert refused.value.problems == (
        f"Stream {stranger} is not one of this budget's streams.",
        "Kit Fund is ring-fenced to equipment, so it cannot pay for personal care.",
        "Top Up has only £5.00 available, so it cannot pay £6.00.",
        "The amount from Care Grant must be more than £0.00, not £0.00.",
        "The split lists Care Grant more than once.",
        "The lines add up to £8.00, but the spend is £10.00.",
    )
    assert refused.value.detail.startswith("The chosen split cannot be used. Stream ")


def test_a_preferred_split_that_does_not_add_up_is_refused() -> None:
    care = stream(1)
    with pytest.raises(InvalidSplit) as refused:
        split_spend(
            amount=1_000, category=CARE, streams=[care], preferred=[SplitLine(care.stream_id, 900)]
        )
    assert refused.value.problems == ("The lines add up to £9.00, but the spend is £10.00.",)


def test_an_empty_preferred_split_is_refused() -> None:
    with pytest.raises(InvalidSplit):
        split_spend(amount=100, category=CARE, streams=[stream(1)], preferred=[])


# --- properties ----------------------------------------------------------------------------

# Few categories and names, so eligibility and tie-breaks come up often.
SPEND_CATEGORIES = [CARE, TRANSPORT, EQUIPMENT, HOUSING]
categories = st.sampled_from(SPEND_CATEGORIES)
amounts = st.integers(min_value=1, max_value=20_000)
stream_funds = st.builds(
    StreamFunds,
    stream_id=st.uuids(),
    agency_id=st.sampled_from([UUID(int=1), UUID(int=2)]),
    name=st.sampled_from(["Care", "DFG", "Access to Work", "ICB"]),
    categories=st.none() | st.frozensets(st.sampled_from(SPEND_CATEGORIES), min_size=1, max_size=3),
    unspent=st.sampled_from(Unspent),
    available=st.integers(min_value=0, max_value=5_000),
    approval_threshold=st.none() | st.integers(min_value=0, max_value=5_000),
    recent_amount=st.just(0) | st.integers(min_value=0, max_value=5_000),
)
stream_lists = st.lists(stream_funds, max_size=6, unique_by=lambda s: s.stream_id)


def up_to(most: int, least: int = 1) -> st.SearchStrategy[int]:
    """An integer in [least, most], drawing `most` itself on purpose: exact fits are edges."""
    return st.just(most) | st.integers(least, most)


def eligible_total(streams: Iterable[StreamFunds], category: Category) -> int:
    """What the eligible streams hold between them."""
    return sum(s.available for s in streams if eligible(s, category))


@given(streams=stream_lists, amount=amounts, category=categories)
def test_a_spend_is_paid_exactly_within_the_rules_or_refused_for_want_of_money(
    streams: list[StreamFunds], amount: int, category: Category
) -> None:
    by_id = {s.stream_id: s for s in streams}
    try:
        lines = split_spend(amount=amount, category=category, streams=streams)
    except InsufficientFunds as refused:
        assert eligible_total(streams, category) < amount
        assert refused.requested == amount
        assert refused.eligible_amount == eligible_total(streams, category)
        assert sorted(r.stream_id for r in refused.streams) == sorted(by_id)
        assert all(r.available == by_id[r.stream_id].available for r in refused.streams)
        return
    assert eligible_total(streams, category) >= amount
    assert sum(line.amount for line in lines) == amount
    assert len({line.stream_id for line in lines}) == len(lines)
    for line in lines:
        source = by_id[line.stream_id]
        assert 0 < line.amount <= source.available
        assert eligible(source, category)
        assert line.agency_id == source.agency_id
        threshold = source.approval_threshold
        over = threshold is not None and source.recent_amount + line.amount > threshold
        assert line.needs_approval == over
    order = [s.stream_id for s in funding_order(streams)]
    assert [line.stream_id for line in lines] == [i for i in order if i in dict(paid(lines))]


@given(streams=stream_lists, amount=amounts, category=categories)
def test_restricted_and_soonest_returned_money_is_used_first(
    streams: list[StreamFunds], amount: int, category: Category
) -> None:
    try:
        lines = split_spend(amount=amount, category=category, streams=streams)
    except InsufficientFunds:
        return
    taken = dict(paid(lines))
    payers = [s for s in streams if s.stream_id in taken]

    def has_money_left(s: StreamFunds) -> bool:
        return eligible(s, category) and s.available > taken.get(s.stream_id, 0)

    if any(s.categories is None for s in payers):
        assert not any(s.categories is not None and has_money_left(s) for s in streams)
    for fenced in (True, False):
        if any((s.categories is not None) == fenced and s.unspent is CARRY for s in payers):
            assert not any(
                (s.categories is not None) == fenced and s.unspent is RETURN and has_money_left(s)
                for s in streams
            )


@given(streams=stream_lists, amount=amounts, category=categories, data=st.data())
def test_shuffling_the_streams_gives_the_same_result(
    streams: list[StreamFunds], amount: int, category: Category, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(streams))

    def outcome(given: list[StreamFunds]) -> object:
        try:
            return split_spend(amount=amount, category=category, streams=given)
        except InsufficientFunds as refused:
            return (refused.detail, refused.eligible_amount, refused.streams)

    assert outcome(streams) == outcome(shuffled)


@st.composite
def valid_splits(
    draw: st.DrawFn,
) -> tuple[list[StreamFunds], Category, list[SplitLine]]:
    """Streams, a category, and a split of some eligible streams within their balances."""
    streams = draw(stream_lists)
    category = draw(categories)
    payers = [s for s in streams if eligible(s, category) and s.available > 0]
    assume(payers)
    # A prefix of a shuffle: distinct streams in any order, without rejected draws.
    chosen = draw(st.permutations(payers))[: draw(st.integers(1, len(payers)))]
    lines = [SplitLine(s.stream_id, draw(up_to(s.available))) for s in chosen]
    return streams, category, lines


@given(split=valid_splits())
def test_a_valid_preferred_split_is_returned_as_given(
    split: tuple[list[StreamFunds], Category, list[SplitLine]],
) -> None:
    streams, category, chosen = split
    amount = sum(line.amount for line in chosen)
    lines = split_spend(amount=amount, category=category, streams=streams, preferred=chosen)
    assert paid(lines) == [(line.stream_id, line.amount) for line in chosen]
    assert all("as the person chose" in line.reason for line in lines)


FAULTS = ["unknown", "twice", "not positive", "ineligible", "over", "total"]


@dataclass(frozen=True)
class FaultySplit:
    """A preferred split with exactly one fault, and the one problem that fault must raise."""

    streams: list[StreamFunds]
    category: Category
    amount: int
    chosen: list[SplitLine]
    fault: str
    problem: str  # a regular expression the whole problem must match


@st.composite
def faulty_splits(draw: st.DrawFn) -> FaultySplit:
    """A valid split with one fault injected; except for "total", the lines still add up."""
    streams, category, chosen = draw(valid_splits())
    amount = sum(line.amount for line in chosen)
    fault = draw(st.sampled_from(FAULTS))
    at = draw(st.integers(0, len(chosen) - 1))
    line = chosen[at]
    source = next(s for s in streams if s.stream_id == line.stream_id)

    def swap(old: StreamFunds, new: StreamFunds) -> list[StreamFunds]:
        return [new if s is old else s for s in streams]

    if fault == "unknown":
        # The line's money comes from a stream the budget does not have.
        stranger = draw(st.uuids().filter(lambda u: u not in {s.stream_id for s in streams}))
        chosen[at] = SplitLine(stranger, line.amount)
        problem = re.escape(f"Stream {stranger} is not one of this budget's streams.")
    elif fault == "twice":
        # One line cut in two: the same money, from the same stream, listed twice.
        assume(line.amount >= 2)
        first = draw(st.integers(1, line.amount - 1))
        chosen[at : at + 1] = [
            SplitLine(line.stream_id, first),
            SplitLine(line.stream_id, line.amount - first),
        ]
        problem = re.escape(f"The split lists {source.name} more than once.")
    elif fault == "not positive":
        # A new eligible stream gives zero or less; the line with room takes up the difference.
        spare = draw(stream_funds.filter(lambda s: eligible(s, category)))
        assume(spare.stream_id not in {s.stream_id for s in streams})
        give = draw(st.just(0) | up_to(source.available - line.amount, 0))
        chosen[at] = SplitLine(line.stream_id, line.amount + give)
        chosen.insert(draw(st.integers(0, len(chosen))), SplitLine(spare.stream_id, -give))
        streams = [*streams, spare]
        problem = re.escape(
            f"The amount from {spare.name} must be more than £0.00, not {format_pence(-give)}."
        )
    elif fault == "ineligible":
        # The line's stream is ring-fenced away from the category.
        others = [c for c in SPEND_CATEGORIES if c is not category]
        fence = draw(st.frozensets(st.sampled_from(others), min_size=1))
        streams = swap(source, replace(source, categories=fence))
        words = category.value.replace("_", " ")
        problem = (
            rf"{re.escape(source.name)} is ring-fenced to [a-z ,]+, so it cannot pay for {words}\."
        )
    elif fault == "over":
        # The line's stream has less than the line asks for, by one penny or more.
        short = replace(source, available=line.amount - draw(st.just(1) | up_to(line.amount)))
        streams = swap(source, short)
        has = f"only {format_pence(short.available)}" if short.available else "nothing"
        problem = re.escape(
            f"{source.name} has {has} available, so it cannot pay {format_pence(line.amount)}."
        )
    else:
        # The only fault that changes the total: the spend asks for a different amount.
        amount = draw(st.integers(1, amount + 500).filter(lambda a: a != amount))
        total = sum(line.amount for line in chosen)
        problem = re.escape(
            f"The lines add up to {format_pence(total)}, but the spend is {format_pence(amount)}."
        )
    return FaultySplit(streams, category, amount, chosen, fault, problem)


@given(split=faulty_splits())
def test_each_fault_in_a_preferred_split_is_named_for_what_it_is(split: FaultySplit) -> None:
    if split.fault != "total":
        assert sum(line.amount for line in split.chosen) == split.amount  # the fault is hidden
    with pytest.raises(InvalidSplit) as refused:
        split_spend(
            amount=split.amount,
            category=split.category,
            streams=split.streams,
            preferred=split.chosen,
        )
    # Exactly the one problem the fault makes: not "some problem", and not the total.
    assert len(refused.value.problems) == 1, refused.value.problems
    assert re.fullmatch(split.problem, refused.value.problems[0]), refused.value.problems


# --- exact fits, generated on purpose ------------------------------------------------------


@given(streams=stream_lists, category=categories, over=st.sampled_from([0, 1]))
def test_a_spend_of_exactly_the_eligible_total_is_paid_and_one_penny_more_is_refused(
    streams: list[StreamFunds], category: Category, over: int
) -> None:
    total = eligible_total(streams, category)
    assume(total + over > 0)
    if over:
        with pytest.raises(InsufficientFunds) as refused:
            split_spend(amount=total + 1, category=category, streams=streams)
        assert refused.value.eligible_amount == total
        return
    lines = split_spend(amount=total, category=category, streams=streams)
    # Every eligible penny is used, each stream's to the last.
    assert paid(lines) == [
        (s.stream_id, s.available)
        for s in funding_order(streams)
        if eligible(s, category) and s.available
    ]


@given(streams=stream_lists, category=categories, over=st.sampled_from([0, 1]))
def test_a_spend_of_exactly_the_first_streams_money_takes_it_all_and_a_penny_more_goes_on(
    streams: list[StreamFunds], category: Category, over: int
) -> None:
    payers = [s for s in funding_order(streams) if eligible(s, category) and s.available]
    assume(payers)
    first = payers[0]
    amount = first.available + over
    if eligible_total(streams, category) < amount:
        with pytest.raises(InsufficientFunds):
            split_spend(amount=amount, category=category, streams=streams)
        return
    lines = split_spend(amount=amount, category=category, streams=streams)
    expected = [(first.stream_id, first.available)]
    if over:
        expected.append((payers[1].stream_id, 1))
    assert paid(lines) == expected


@given(
    threshold=st.integers(0, 5_000),
    data=st.data(),
    over=st.sampled_from([0, 1]),
    chosen=st.booleans(),
)
def test_approval_starts_one_penny_over_the_threshold_counting_what_was_paid_lately(
    threshold: int, data: st.DataObject, over: int, chosen: bool
) -> None:
    # recent + amount == threshold (+ over): the purchase is exactly at, or a penny over.
    recent = data.draw(up_to(threshold + over - 1, 0) if threshold + over else st.just(0))
    amount = threshold + over - recent
    assume(amount > 0)
    source = replace(stream(1, "Care", threshold=threshold, available=amount), recent_amount=recent)
    preferred = [SplitLine(source.stream_id, amount)] if chosen else None
    (line,) = split_spend(amount=amount, category=CARE, streams=[source], preferred=preferred)
    assert line.needs_approval is bool(over)
    assert ("so its agency decides" in line.reason) is bool(over)
    assert (f"counting {format_pence(recent)} paid lately" in line.reason) is bool(over and recent)
