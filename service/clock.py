"""The service's wall clock, in one place, so a test can move time instead of sleeping.

Ledger rows take the database's now() (service.ledger.clock); this clock is for what the
service decides in Python: whether a commitment's expiry has passed, and when to sweep it.
"""

from collections.abc import Callable
from datetime import UTC, datetime

# What the app reads the time from (app.state.clock): utc_now, or a test's movable clock.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
