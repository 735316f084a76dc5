"""Every vocabulary in one place: API enums, domain rules and database CHECKs come from here."""

from enum import StrEnum


class Category(StrEnum):
    """What a spend buys. One vocabulary for every agency (docs/api.md); add, never rename."""

    PERSONAL_CARE = "personal_care"
    PERSONAL_ASSISTANT = "personal_assistant"
    RESPITE = "respite"
    DAY_ACTIVITIES = "day_activities"
    HOUSING_ADAPTATION = "housing_adaptation"
    EQUIPMENT = "equipment"
    ASSISTIVE_TECHNOLOGY = "assistive_technology"
    EMPLOYMENT_SUPPORT = "employment_support"
    TRANSPORT = "transport"
    HEALTH_THERAPY = "health_therapy"
    OTHER = "other"


class StreamKind(StrEnum):
    """What sort of funding a stream is."""

    SOCIAL_CARE = "social_care"
    HOUSING_ADAPTATION = "housing_adaptation"
    EMPLOYMENT = "employment"
    EQUIPMENT = "equipment"
    HEALTH = "health"
    OTHER = "other"


class Unspent(StrEnum):
    """What happens to a stream's unspent money at period close."""

    RETURN = "return"
    CARRY_FORWARD = "carry_forward"


class AgencyKind(StrEnum):
    """What sort of organisation an agency is."""

    COUNCIL = "council"
    HOUSING = "housing"
    EMPLOYMENT = "employment"
    EQUIPMENT = "equipment"
    HEALTH = "health"
    OTHER = "other"


class Deployment(StrEnum):
    """How a budget is held and paid out (Care Act deployment options)."""

    DIRECT_PAYMENT = "direct_payment"
    MANAGED = "managed"
    INDIVIDUAL_SERVICE_FUND = "individual_service_fund"
    THIRD_PARTY = "third_party"
    MIXED = "mixed"


class AllocationStatus(StrEnum):
    """Indicative money is shown but cannot be spent; confirmed money is in the pot."""

    INDICATIVE = "indicative"
    CONFIRMED = "confirmed"


class SpendKind(StrEnum):
    """What a spend row records: money paid, money held for booked support, or a reversal."""

    SPEND = "spend"
    COMMITMENT = "commitment"
    REVERSAL = "reversal"


class SpendStatus(StrEnum):
    """Where a spend or commitment stands. Spends: posted, pending_approval, rejected,
    reversed. Commitments: pending, pending_approval, rejected, posted, voided, expired."""

    POSTED = "posted"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    REVERSED = "reversed"
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


class Approval(StrEnum):
    """Whether one line of a spend waits for its agency's approval."""

    NOT_NEEDED = "not_needed"
    AWAITING = "awaiting"
    APPROVED = "approved"
    REJECTED = "rejected"


class EventType(StrEnum):
    """What a partner's webhook endpoint may be told (docs/api.md, "Webhooks")."""

    ALLOCATION_CONFIRMED = "allocation.confirmed"
    ALLOCATION_ADJUSTED = "allocation.adjusted"
    SPEND_POSTED = "spend.posted"
    SPEND_PENDING_APPROVAL = "spend.pending_approval"
    SPEND_APPROVED = "spend.approved"
    SPEND_REJECTED = "spend.rejected"
    SPEND_REVERSED = "spend.reversed"
    BUDGET_LOW = "budget.low"


def sql_in(column: str, vocabulary: type[StrEnum]) -> str:
    """A CHECK constraint's text allowing exactly the vocabulary's values."""
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return f"{column} IN ({values})"
