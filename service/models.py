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
from service.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "Account",
    "Agency",
    "Allocation",
    "AllocationAdjustment",
    "Base",
    "Budget",
    "BudgetFunder",
    "FundingStream",
    "IdempotencyRecord",
    "METADATA",
    "OAuthClient",
    "OneBudgetModel",
    "Person",
    "Spend",
    "SpendLine",
    "Transfer",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
