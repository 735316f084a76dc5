"""The ledger's exact words and signs, where the properties in test_ledger.py leave them free.

Written against the mutants `mutmut run` left alive (README, "Tests and quality"): a refusal
names the rule that broke, and each balance comes from its own account with the right sign.
"""

import uuid

import pytest

from service.domain.ledger import (
    AccountKind,
    Counters,
    LedgerRuleBroken,
    StreamBalance,
    TransferKind,
    TransferSpec,
    batch_effects,
    check_transfer,
    stream_balance,
)

HOLD = uuid.UUID(int=1)
POSTED = TransferKind.POSTED
PENDING = TransferKind.PENDING
POST_PENDING = TransferKind.POST_PENDING
VOID_PENDING = TransferKind.VOID_PENDING


def transfer(
    kind: TransferKind,
    amount: int,
    *,
    credit: int = 2,
    pending_id: uuid.UUID | None = None,
    pending_amount: int = 0,
) -> TransferSpec:
    """A transfer from account 1 (to account 2 unless told)."""
    return TransferSpec(
        uuid.UUID(int=2), 1, credit, amount, kind, "test", pending_id, pending_amount
    )


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        (transfer(POSTED, 5, credit=1), "a transfer needs two different accounts"),
        (transfer(POSTED, 0), "a transfer moves a positive amount"),
        (
            transfer(POSTED, 5, pending_id=HOLD, pending_amount=5),
            "posts and voids name the pending transfer; nothing else does",
        ),
        (transfer(VOID_PENDING, 5), "posts and voids name the pending transfer; nothing else does"),
        (
            transfer(POST_PENDING, 5, pending_id=HOLD),
            "a post or void says how much the pending transfer held",
        ),
        (
            transfer(VOID_PENDING, 5, pending_id=HOLD),
            "a post or void says how much the pending transfer held",
        ),
        (
            transfer(POST_PENDING, 6, pending_id=HOLD, pending_amount=5),
            "cannot post more than the pending transfer held",
        ),
        (
            transfer(VOID_PENDING, 4, pending_id=HOLD, pending_amount=5),
            "a void releases exactly what the pending transfer held",
        ),
    ],
)
def test_a_refused_transfer_names_the_rule_it_breaks(bad: TransferSpec, rule: str) -> None:
    with pytest.raises(LedgerRuleBroken) as broken:
        check_transfer(bad)
    assert str(broken.value) == rule


def test_posting_or_voiding_exactly_what_was_held_is_allowed() -> None:
    check_transfer(transfer(POST_PENDING, 5, pending_id=HOLD, pending_amount=5))
    check_transfer(transfer(VOID_PENDING, 1, pending_id=HOLD, pending_amount=1))


@pytest.mark.parametrize(
    ("move", "debit", "credit"),
    [
        (transfer(POSTED, 5), Counters(debits_posted=5), Counters(credits_posted=5)),
        (transfer(PENDING, 5), Counters(debits_pending=5), Counters(credits_pending=5)),
        (
            transfer(POST_PENDING, 3, pending_id=HOLD, pending_amount=5),
            Counters(debits_pending=-5, debits_posted=3),
            Counters(credits_pending=-5, credits_posted=3),
        ),
        (
            transfer(VOID_PENDING, 5, pending_id=HOLD, pending_amount=5),
            Counters(debits_pending=-5),
            Counters(credits_pending=-5),
        ),
    ],
)
def test_each_kind_of_transfer_moves_exactly_these_counters(
    move: TransferSpec, debit: Counters, credit: Counters
) -> None:
    assert batch_effects([move]) == {1: debit, 2: credit}


def test_a_batch_sums_per_account_in_ascending_account_id() -> None:
    hold = transfer(PENDING, 700, credit=3)
    spend = transfer(POSTED, 200, credit=2)
    post = transfer(POST_PENDING, 500, credit=3, pending_id=HOLD, pending_amount=700)
    assert list(batch_effects([hold, spend, post]).items()) == [
        (1, Counters(debits_pending=0, debits_posted=700)),
        (2, Counters(credits_posted=200)),
        (3, Counters(credits_pending=0, credits_posted=500)),
    ]


def test_a_stream_with_no_accounts_yet_has_nothing() -> None:
    assert stream_balance({}) == StreamBalance()


@pytest.mark.parametrize(
    ("kind", "counters", "balance"),
    [
        (AccountKind.CONTRIBUTION, Counters(debits_posted=700), StreamBalance(allocated=700)),
        (AccountKind.POT, Counters(credits_posted=700), StreamBalance(available=700)),
        (AccountKind.SPENT, Counters(credits_posted=700), StreamBalance(spent=700)),
        (AccountKind.RETURNED, Counters(credits_posted=700), StreamBalance(returned=700)),
    ],
)
def test_each_balance_comes_from_its_own_account_and_a_missing_one_counts_nothing(
    kind: AccountKind, counters: Counters, balance: StreamBalance
) -> None:
    assert stream_balance({kind: counters}) == balance


def test_money_moved_back_is_taken_off_each_balance() -> None:
    balance = stream_balance(
        {
            # £100 allocated, £10 of it withdrawn again by the agency
            AccountKind.CONTRIBUTION: Counters(debits_posted=10_000, credits_posted=1_000),
            # £90 in, £40 out, £5 held for a commitment
            AccountKind.POT: Counters(
                debits_pending=500, debits_posted=4_000, credits_posted=9_000
            ),
            # £30 paid, £3 of it reversed
            AccountKind.SPENT: Counters(debits_posted=300, credits_posted=3_000),
            # £15 returned at close, £2 of it reopened
            AccountKind.RETURNED: Counters(debits_posted=200, credits_posted=1_500),
        }
    )
    assert balance == StreamBalance(
        allocated=9_000, available=4_500, pending=500, spent=2_700, returned=1_300
    )
    assert (
        balance.allocated == balance.available + balance.pending + balance.spent + balance.returned
    )


def test_stream_balances_add_field_by_field() -> None:
    total = StreamBalance(1, 2, 3, 4, 5) + StreamBalance(10, 20, 30, 40, 50)
    assert total == StreamBalance(allocated=11, available=22, pending=33, spent=44, returned=55)
