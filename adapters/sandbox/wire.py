"""Small pieces of every sandbox's wire format: refusals, page sizes, cursors, times."""

import base64
from datetime import UTC, datetime


class Refusal(Exception):
    """An answer other than success, rendered in the sandbox's own error style."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def page_size(text: str | None, *, default: int, maximum: int) -> int:
    """A page size query parameter: default if absent; Refusal 400 unless 1..maximum."""
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise Refusal(
            400, f"the page size must be a whole number from 1 to {maximum}, not {text!r}"
        )
    return int(text)


def sequence_number(text: str | None, *, name: str) -> int:
    """A change sequence number query parameter (0 if absent); Refusal 400 if not one."""
    if text is None:
        return 0
    if not text.isdigit():
        raise Refusal(400, f"{name} must be a change sequence number (0 or more), not {text!r}")
    return int(text)


def cursor_for(after: int) -> str:
    """An opaque cursor for "after this change sequence number"."""
    return base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")


def after_from(cursor: str | None) -> int:
    """The sequence number a cursor stands for (0 for none); Refusal 400 if it is not ours."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        label, _, number = base64.urlsafe_b64decode(padded).decode().partition(":")
        if label == "after" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise Refusal(400, f"{cursor!r} is not a cursor this service gave out")


def utc_iso(moment: datetime) -> str:
    """A time as ISO 8601 in UTC with Z, to the microsecond."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
