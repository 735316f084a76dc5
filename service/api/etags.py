"""ETags and If-Match for resources that can change."""

import uuid

from service.errors import PreconditionFailed, PreconditionRequired


def etag(resource_id: uuid.UUID, version: int) -> str:
    """A strong ETag naming one version of one resource."""
    return f'"{resource_id.hex[:12]}-{version}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """Refuse an update made against a version that is not the current one."""
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag from your last read, so no one's change is lost."
        )
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" not in candidates and current not in candidates:
        raise PreconditionFailed(
            "The resource changed since you read it: read it again and retry.",
            extensions={"current_etag": current},
        )
