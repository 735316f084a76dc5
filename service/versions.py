"""Optimistic concurrency for objects that change: each has a version; an update names one.

REST carries versions as ETags (If-Match); GraphQL will take them as numbers. Services
check them here, so no edge can skip the check.
"""

import uuid
from dataclasses import dataclass

from service.domain.errors import StaleVersion, VersionRequired


def etag(resource_id: uuid.UUID, version: int) -> str:
    """A strong ETag naming one version of one resource."""
    return f'"{resource_id.hex[:12]}-{version}"'


@dataclass(frozen=True, slots=True)
class Precondition:
    """The versions an update was made against; None means any ("If-Match: *").

    `sent` is False when the caller named no version at all: refused once the object is
    found, so an object outside reach still answers 404 first.
    """

    versions: frozenset[int] | None
    sent: bool = True

    def check(self, *, object_id: uuid.UUID, version: int) -> None:
        """Refuse the update if it names no version, or the object moved on from them all."""
        if not self.sent:
            raise VersionRequired(
                "Send the version you last read (If-Match with its ETag), so no one's change"
                " is lost."
            )
        if self.versions is not None and version not in self.versions:
            raise StaleVersion(object_id=object_id, current_version=version)
