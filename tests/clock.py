"""A clock a test moves by hand, installed as the app's clock (service.clock)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Far from the real date on purpose: code that reads the real clock instead of the app's
# decides differently here (this expiry is still ahead by the real clock), and a test sees it.
START = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)


@dataclass
class MovableClock:
    """Stands still at `now` until a test moves it."""

    now: datetime = START

    def __call__(self) -> datetime:
        """The time the app reads."""
        return self.now

    def advance(self, by: timedelta) -> datetime:
        """Move time forward; return the new now."""
        self.now += by
        return self.now
