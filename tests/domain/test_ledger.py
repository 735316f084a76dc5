"""The pure ledger rules, checked with hypothesis: double entry and two-phase transfers."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.ledger import (
    AccountKind,
    Counters,
    LedgerRuleBroken,
    TransferKind,
    TransferSpec,
    batch_effects,
    stream_balance,
)

amounts = st.integers(min_value=1, max_value=10**12)
accounts = st.integers(min_value=1, max_value=6)


@st.composite
def transfers(draw: st.DrawFn) -> TransferSpec:
    debit = draw(accounts)
    credit = draw(accounts.filter(lambda a: a != debit))
    kind = draw(st.sampled_from(TransferKind))
    held = draw(amounts)
    amount = {
        TransferKind.POST_PENDING: draw(st.integers(1, held)),
        TransferKind.VOID_PENDING: held,
    }.get(kind, draw(amounts))
    resolves = kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING)
    return TransferSpec(
        id=uuid.uuid4(),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        kind=kind,
        code="test",
        pending_id=uuid.uuid4() if resolves else None,
        pending_amount=held if resolves else 0,
    )


@given(st.lists(transfers(), max_size=20))
def test_debits_equal_credits_in_every_batch(batch: list[TransferSpec]) -> None:
    deltas = batch_effects(batch).values()
    assert sum(c.debits_posted for c in deltas) == sum(c.credits_posted for c in deltas)
    assert sum(c.debits_pending for c in deltas) == sum(c.credits_pending for c in deltas)


@given(amounts, st.integers(min_value=0, max_value=10**12))
def test_posting_a_hold_moves_at_most_what_was_held(held: int, posted: int) -> None:
    hold = TransferSpec(uuid.uuid4(), 1, 2, held, TransferKind.PENDING, "hold")
    if posted == 0:
        finish = TransferSpec(
            uuid.uuid4(), 1, 2, held, TransferKind.VOID_PENDING, "void", hold.id, held
        )
    else:
        finish = TransferSpec(
            uuid.uuid4(), 1, 2, posted, TransferKind.POST_PENDING, "post", hold.id, held
        )
    if posted > held:
        with pytest.raises(LedgerRuleBroken):
            batch_effects([hold, finish])
        return
    pot = batch_effects([hold, finish])[1]
    assert pot.debits_pending == 0
    assert pot.debits_posted == posted


@given(amounts, amounts, amounts)
def test_allocated_is_always_available_plus_pending_plus_spent(
    allocated: int, spent: int, held: int
) -> None:
    contribution, pot, spent_account = 1, 2, 3
    batch = [
        TransferSpec(uuid.uuid4(), contribution, pot, allocated, TransferKind.POSTED, "allocation"),
        TransferSpec(uuid.uuid4(), pot, spent_account, spent, TransferKind.POSTED, "spend"),
        TransferSpec(uuid.uuid4(), pot, spent_account, held, TransferKind.PENDING, "hold"),
    ]
    deltas = batch_effects(batch)
    balance = stream_balance(
        {
            AccountKind.CONTRIBUTION: deltas[contribution],
            AccountKind.POT: deltas[pot],
            AccountKind.SPENT: deltas[spent_account],
        }
    )
    assert (
        balance.allocated == balance.available + balance.pending + balance.spent + balance.returned
    )


@pytest.mark.parametrize(
    "bad",
    [
        TransferSpec(uuid.uuid4(), 1, 1, 5, TransferKind.POSTED, "same account"),
        TransferSpec(uuid.uuid4(), 1, 2, 0, TransferKind.POSTED, "zero"),
        TransferSpec(uuid.uuid4(), 1, 2, -3, TransferKind.POSTED, "negative"),
        TransferSpec(uuid.uuid4(), 1, 2, 5, TransferKind.POST_PENDING, "no pending id"),
        TransferSpec(uuid.uuid4(), 1, 2, 5, TransferKind.POSTED, "stray", uuid.uuid4(), 5),
        TransferSpec(
            uuid.uuid4(), 1, 2, 4, TransferKind.VOID_PENDING, "partial void", uuid.uuid4(), 5
        ),
    ],
)
def test_transfers_that_break_the_rules_are_refused(bad: TransferSpec) -> None:
    with pytest.raises(LedgerRuleBroken):
        batch_effects([bad])


def test_counters_add_up() -> None:
    assert Counters(1, 2, 3, 4) + Counters(1, 1, 1, 1) == Counters(2, 3, 4, 5)
