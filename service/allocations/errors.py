"""What the allocation rules refuse (service.errors maps them)."""

from service.domain.errors import DomainError


class OverCap(DomainError):
    """The stream would give the budget more than its cap."""

    def __init__(self, detail: str, *, cap_amount: int, allocated: int) -> None:
        super().__init__(detail)
        self.cap_amount = cap_amount
        self.allocated = allocated


class AlreadyConfirmed(DomainError):
    """The allocation was confirmed before."""


class AllocationWithdrawn(DomainError):
    """The allocation's award was withdrawn: there is nothing left to confirm."""


class NoChange(DomainError):
    """The allocation already has the amount asked for."""
