"""Ledger rules: double entry in integer pence, two-phase transfers, balances from counters.

Invariants (tests/domain/test_ledger.py checks them with hypothesis):
- every transfer debits one account and credits another by the same positive amount, so
  in every batch, and in total, debits equal credits (posted and pending alike);
- a pending transfer is resolved at most once, by a post of at most its amount (the rest
  is released) or by a void; nothing else changes a pending amount;
- a pot's available money, credits_posted - debits_posted - debits_pending, is never
  below zero (the database enforces it too, inside the statement that moves money);
- per (budget, stream): allocated = available + pending + spent + returned.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class TransferKind(StrEnum):
    """How a transfer changes the counters of its two accounts."""

    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


class AccountKind(StrEnum):
    """The four accounts each stream has on each budget."""

    CONTRIBUTION = "contribution"  # the agency's side: debited when money is confirmed
    POT = "pot"  # the stream's money on the budget, available or held
    SPENT = "spent"  # what the stream paid for
    RETURNED = "returned"  # handed back to the agency at period close


@dataclass(frozen=True, slots=True)
class Counters:
    """TigerBeetle-style running totals; every balance is derived from them."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def __add__(self, other: "Counters") -> "Counters":
        return Counters(
            self.debits_pending + other.debits_pending,
            self.debits_posted + other.debits_posted,
            self.credits_pending + other.credits_pending,
            self.credits_posted + other.credits_posted,
        )

    @property
    def credit_balance(self) -> int:
        """Posted credits less posted and pending debits: money free to move out."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """A transfer to post. For a post or void, `pending_amount` is what the pending held."""

    id: UUID
    debit_account_id: int
    credit_account_id: int
    amount: int
    kind: TransferKind
    code: str
    pending_id: UUID | None = None
    pending_amount: int = 0


class LedgerRuleBroken(ValueError):
    """A transfer the ledger rules forbid; a programming error, never a user's."""


def check_transfer(transfer: TransferSpec) -> None:
    """Refuse a transfer that breaks double entry or the two-phase rules."""
    if transfer.debit_account_id == transfer.credit_account_id:
        raise LedgerRuleBroken("a transfer needs two different accounts")
    if transfer.amount <= 0:
        raise LedgerRuleBroken("a transfer moves a positive amount")
    resolves = transfer.kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING)
    if resolves != (transfer.pending_id is not None):
        raise LedgerRuleBroken("posts and voids name the pending transfer; nothing else does")
    if resolves and transfer.pending_amount <= 0:
        raise LedgerRuleBroken("a post or void says how much the pending transfer held")
    if transfer.kind is TransferKind.POST_PENDING and transfer.amount > transfer.pending_amount:
        raise LedgerRuleBroken("cannot post more than the pending transfer held")
    if transfer.kind is TransferKind.VOID_PENDING and transfer.amount != transfer.pending_amount:
        raise LedgerRuleBroken("a void releases exactly what the pending transfer held")


def _effect(transfer: TransferSpec) -> tuple[Counters, Counters]:
    """The change one transfer makes to its debit and its credit account."""
    amount, held = transfer.amount, transfer.pending_amount
    match transfer.kind:
        case TransferKind.POSTED:
            return Counters(debits_posted=amount), Counters(credits_posted=amount)
        case TransferKind.PENDING:
            return Counters(debits_pending=amount), Counters(credits_pending=amount)
        case TransferKind.POST_PENDING:
            return (
                Counters(debits_pending=-held, debits_posted=amount),
                Counters(credits_pending=-held, credits_posted=amount),
            )
        case TransferKind.VOID_PENDING:
            return Counters(debits_pending=-held), Counters(credits_pending=-held)


def batch_effects(transfers: Iterable[TransferSpec]) -> dict[int, Counters]:
    """Check a linked batch and sum its changes per account, in ascending account id."""
    deltas: dict[int, Counters] = {}
    for transfer in transfers:
        check_transfer(transfer)
        debit, credit = _effect(transfer)
        deltas[transfer.debit_account_id] = (
            deltas.get(transfer.debit_account_id, Counters()) + debit
        )
        deltas[transfer.credit_account_id] = (
            deltas.get(transfer.credit_account_id, Counters()) + credit
        )
    return dict(sorted(deltas.items()))


@dataclass(frozen=True, slots=True)
class StreamBalance:
    """One stream's money on one budget, as the budget holder and the agency read it."""

    allocated: int = 0
    available: int = 0
    pending: int = 0
    spent: int = 0
    returned: int = 0

    def __add__(self, other: "StreamBalance") -> "StreamBalance":
        return StreamBalance(
            self.allocated + other.allocated,
            self.available + other.available,
            self.pending + other.pending,
            self.spent + other.spent,
            self.returned + other.returned,
        )


def stream_balance(accounts: Mapping[AccountKind, Counters]) -> StreamBalance:
    """Derive a stream's balance from the counters of its four accounts."""
    contribution = accounts.get(AccountKind.CONTRIBUTION, Counters())
    pot = accounts.get(AccountKind.POT, Counters())
    spent = accounts.get(AccountKind.SPENT, Counters())
    returned = accounts.get(AccountKind.RETURNED, Counters())
    return StreamBalance(
        allocated=contribution.debits_posted - contribution.credits_posted,
        available=pot.credit_balance,
        pending=pot.debits_pending,
        spent=spent.credits_posted - spent.debits_posted,
        returned=returned.credits_posted - returned.debits_posted,
    )
