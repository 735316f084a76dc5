"""The shared words partners use: spend categories, stream kinds, unspent-money rules."""

from enum import StrEnum


class Category(StrEnum):
    """What a spend buys. One vocabulary for every agency (API.md); add, never rename."""

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
