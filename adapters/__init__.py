"""Adapters between onebudget and each funding agency's own system."""
