"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from service.agencies.models import Agency
from service.allocations.models import Allocation, AllocationAdjustment
from service.auth.models import OAuthClient
from service.budgets.models import Budget, BudgetFunder
from service.idempotency.models import IdempotencyRecord
from service.ledger.models import Account, Transfer
from service.models_base import METADATA, Base, OneBudgetModel
from service.people.models import Person
from service.spends.models import Spend, SpendLine
from service.streams.models import FundingStream
from service.syncs.models import (
    AgencyAward,
    AgencyConnection,
    DeadLetter,
    InboundMessage,
    OutboundDelivery,
    SyncRun,
)
from service.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "Account",
    "Agency",
    "AgencyAward",
    "AgencyConnection",
    "Allocation",
    "AllocationAdjustment",
    "Base",
    "Budget",
    "BudgetFunder",
    "DeadLetter",
    "FundingStream",
    "IdempotencyRecord",
    "InboundMessage",
    "METADATA",
    "OAuthClient",
    "OneBudgetModel",
    "OutboundDelivery",
    "Person",
    "Spend",
    "SpendLine",
    "SyncRun",
    "Transfer",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
