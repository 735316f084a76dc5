"""Refusals of the webhooks feature (their HTTP shapes are in service/errors.py)."""

from service.domain.errors import DomainError


class UnsafeWebhookUrl(DomainError):
    """The URL could not be called safely: not https, or not a public address."""
