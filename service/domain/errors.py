"""Refusals the rules make, with no HTTP meaning: `service.errors` maps each to a problem.

Every public service function raises these (or a feature's subclass of DomainError); each
API edge (REST, GraphQL) turns them into its own answer from one table (service.errors).
"""

from collections.abc import Collection, Mapping, Sequence


class DomainError(Exception):
    """A request the rules refuse; carries a sentence a person can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """Missing, or outside the caller's reach: the two must look the same."""


class MissingScope(DomainError):
    """The caller's token lacks the scope the operation needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This operation needs the scope {scope!r}; ask for it when you get a token."
        )
        self.scope = scope


class ForbiddenRole(DomainError):
    """The caller reaches the object, but its role on it does not allow this write."""

    def __init__(self, detail: str, *, allowed: Collection[str]) -> None:
        super().__init__(detail)
        self.allowed = tuple(allowed)


class StaleVersion(DomainError):
    """An update named a version of the object that is no longer the current one."""

    def __init__(self, *, object_id: object, current_version: int) -> None:
        super().__init__("It changed since you read it: read it again and retry.")
        self.object_id = object_id
        self.current_version = current_version


class VersionRequired(DomainError):
    """An update named no version of the object at all."""


class BadCursor(DomainError):
    """A list cursor that this service did not hand out."""

    def __init__(self) -> None:
        super().__init__("The cursor is not valid: pass next_cursor exactly as returned.")


class InvalidInput(DomainError):
    """Fields missing, unknown, of the wrong type or out of range, each with a message."""

    def __init__(self, detail: str, *, errors: Sequence[Mapping[str, str]]) -> None:
        super().__init__(detail)
        self.errors = [dict(error) for error in errors]
