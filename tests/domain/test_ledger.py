"""The pure ledger rules, checked with hypothesis: double entry and two-phase transfers."""

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from service.domain.ledger import (
    AccountKind,
    Counters,
    LedgerRuleBroken,
    StreamBalance,
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


# --- a ledger over time, returned money included -------------------------------------------

BUDGETS, STREAMS = 2, 2
KINDS = list(AccountKind)
GROUPS = [(budget, stream) for budget in range(BUDGETS) for stream in range(STREAMS)]
money = st.integers(min_value=1, max_value=50_000)


def account(group: tuple[int, int], kind: AccountKind) -> int:
    """The id of one of the four accounts of a (budget, stream)."""
    return 1 + GROUPS.index(group) * len(KINDS) + KINDS.index(kind)


@dataclass(frozen=True)
class Hold:
    """A pending transfer not yet resolved."""

    id: uuid.UUID
    group: tuple[int, int]
    amount: int


class LedgerModel(RuleBasedStateMachine):
    """Allocations, spends, holds, posts, voids, reversals and period closes, batch by batch.

    Each rule builds one linked batch only of moves the money allows (the layers above the
    pure rules refuse the rest: see test_stateful.py), folds it with batch_effects, and
    updates a plain model of each (budget, stream)'s balance to compare against.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counters: dict[int, Counters] = {}
        self.expected = {group: StreamBalance() for group in GROUPS}
        self.holds: dict[uuid.UUID, Hold] = {}
        self.resolved: set[uuid.UUID] = set()
        self.made = 0  # transfers made: their ids, so hold ids sort the same every run

    def post(
        self, batch: list[TransferSpec], changes: dict[tuple[int, int], StreamBalance]
    ) -> None:
        """Fold one batch into the counters and the model."""
        deltas = batch_effects(batch)
        assert sum(c.debits_posted for c in deltas.values()) == sum(
            c.credits_posted for c in deltas.values()
        )
        assert sum(c.debits_pending for c in deltas.values()) == sum(
            c.credits_pending for c in deltas.values()
        )
        for account_id, delta in deltas.items():
            self.counters[account_id] = self.counters.get(account_id, Counters()) + delta
        for group, change in changes.items():
            self.expected[group] += change

    def spec(
        self,
        group: tuple[int, int],
        debit: AccountKind,
        credit: AccountKind,
        amount: int,
        kind: TransferKind = TransferKind.POSTED,
        hold: Hold | None = None,
    ) -> TransferSpec:
        """A transfer between two of one (budget, stream)'s accounts."""
        self.made += 1
        return TransferSpec(
            id=uuid.UUID(int=self.made),
            debit_account_id=account(group, debit),
            credit_account_id=account(group, credit),
            amount=amount,
            kind=kind,
            code="model",
            pending_id=hold.id if hold else None,
            pending_amount=hold.amount if hold else 0,
        )

    @rule(group=st.sampled_from(GROUPS), amount=money)
    def allocate(self, group: tuple[int, int], amount: int) -> None:
        transfer = self.spec(group, AccountKind.CONTRIBUTION, AccountKind.POT, amount)
        self.post([transfer], {group: StreamBalance(allocated=amount, available=amount)})

    @rule(budget=st.integers(0, BUDGETS - 1), data=st.data())
    def spend(self, budget: int, data: st.DataObject) -> None:
        # One spend split across the budget's streams: one line each, within what it has.
        batch, changes = [], {}
        for group in GROUPS:
            available = self.expected[group].available
            if group[0] != budget or not available:
                continue
            amount = data.draw(st.integers(0, available) | st.just(available))
            if amount:
                batch.append(self.spec(group, AccountKind.POT, AccountKind.SPENT, amount))
                changes[group] = StreamBalance(available=-amount, spent=amount)
        if batch:
            self.post(batch, changes)

    @rule(group=st.sampled_from(GROUPS), data=st.data())
    def hold(self, group: tuple[int, int], data: st.DataObject) -> None:
        available = self.expected[group].available
        if not available:
            return
        amount = data.draw(st.integers(1, available) | st.just(available))
        transfer = self.spec(
            group, AccountKind.POT, AccountKind.SPENT, amount, kind=TransferKind.PENDING
        )
        self.post([transfer], {group: StreamBalance(available=-amount, pending=amount)})
        self.holds[transfer.id] = Hold(transfer.id, group, amount)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), void=st.booleans())
    def resolve(self, data: st.DataObject, void: bool) -> None:
        hold = self.holds.pop(data.draw(st.sampled_from(sorted(self.holds))))
        assert hold.id not in self.resolved
        self.resolved.add(hold.id)
        paid = 0 if void else data.draw(st.integers(1, hold.amount) | st.just(hold.amount))
        kind = TransferKind.POST_PENDING if paid else TransferKind.VOID_PENDING
        transfer = self.spec(
            hold.group,
            AccountKind.POT,
            AccountKind.SPENT,
            paid or hold.amount,
            kind=kind,
            hold=hold,
        )
        # What the post does not take is released back to the pot.
        change = StreamBalance(available=hold.amount - paid, pending=-hold.amount, spent=paid)
        self.post([transfer], {hold.group: change})

    @rule(group=st.sampled_from(GROUPS), data=st.data())
    def reverse(self, group: tuple[int, int], data: st.DataObject) -> None:
        spent = self.expected[group].spent
        if not spent:
            return
        amount = data.draw(st.integers(1, spent) | st.just(spent))
        transfer = self.spec(group, AccountKind.SPENT, AccountKind.POT, amount)
        self.post([transfer], {group: StreamBalance(available=amount, spent=-amount)})

    @rule(budget=st.integers(0, BUDGETS - 1), data=st.data())
    def close(self, budget: int, data: st.DataObject) -> None:
        # Period close: streams whose money is returned if unspent hand back what is left.
        batch, changes = [], {}
        for group in GROUPS:
            available = self.expected[group].available
            if group[0] == budget and available and data.draw(st.booleans()):
                batch.append(self.spec(group, AccountKind.POT, AccountKind.RETURNED, available))
                changes[group] = StreamBalance(available=-available, returned=available)
        if batch:
            self.post(batch, changes)

    @invariant()
    def every_stream_adds_up(self) -> None:
        for group in GROUPS:
            balance = stream_balance(
                {kind: self.counters.get(account(group, kind), Counters()) for kind in KINDS}
            )
            assert balance == self.expected[group]
            assert balance.allocated == (
                balance.available + balance.pending + balance.spent + balance.returned
            )
            assert balance.available >= 0

    @invariant()
    def books_balance(self) -> None:
        totals = sum(self.counters.values(), Counters())
        assert totals.debits_posted == totals.credits_posted
        assert totals.debits_pending == totals.credits_pending
        assert all(min(c.debits_pending, c.credits_pending) >= 0 for c in self.counters.values())

    @invariant()
    def pending_is_what_open_holds_hold(self) -> None:
        for group in GROUPS:
            pot = self.counters.get(account(group, AccountKind.POT), Counters())
            assert pot.debits_pending == sum(
                h.amount for h in self.holds.values() if h.group == group
            )


# Twenty batches reach every move from every state; more only slows the domain tests.
LedgerModel.TestCase.settings = settings(stateful_step_count=20)
test_a_ledger_over_time_keeps_every_invariant = LedgerModel.TestCase
