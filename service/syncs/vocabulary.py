"""The words of agency syncs: adapter kinds, how a run ended, what an agency made of a report."""

from enum import StrEnum


class AdapterKind(StrEnum):
    """Which adapter speaks to an agency's system (adapters/registry.py)."""

    COUNCIL = "council"
    HOUSING = "housing"
    EMPLOYMENT = "employment"
    EQUIPMENT = "equipment"
    HEALTH = "health"


class RunStatus(StrEnum):
    """Where a sync run stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    """What the agency made of a delivery."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # it had it already: delivered all the same
    REJECTED = "rejected"  # it cannot use it (reason given); sending it again will not help
