"""What the spending rules refuse, each under its own name (service.errors maps them)."""

from service.domain.errors import DomainError


class OutsidePeriod(DomainError):
    """The spend's date is not within the budget's period."""


class ExpiryInPast(DomainError):
    """A commitment was asked to expire at a time already gone."""


class NotAwaitingApproval(DomainError):
    """Only a spend or commitment awaiting approval can be approved or rejected."""


class NotAwaitingYou(DomainError):
    """No part of this spend awaits the caller's agency's approval."""


class NotPosted(DomainError):
    """Only a posted spend can be reversed."""


class NotHeld(DomainError):
    """The commitment no longer holds money (posted, voided, rejected or expired)."""


class StillAwaitingApproval(DomainError):
    """A commitment whose approval is still awaited cannot be paid yet."""


class CommitmentExpired(DomainError):
    """The commitment's time ran out; the expiry sweep releases its money."""


class OverPosting(DomainError):
    """A post asked for more than the commitment holds."""

    def __init__(self, detail: str, *, held_amount: int) -> None:
        super().__init__(detail)
        self.held_amount = held_amount
