"""ETags and If-Match for resources that can change: HTTP's side of service.versions."""

import uuid

from service.versions import Precondition, etag

__all__ = ["etag", "precondition"]


def precondition(if_match: str | None, resource_id: uuid.UUID) -> Precondition:
    """The versions If-Match names for this resource (the service refuses none sent)."""
    if if_match is None:
        return Precondition(None, sent=False)
    tags = {tag.strip() for tag in if_match.split(",")}
    if "*" in tags:
        return Precondition(None)
    prefix = f'"{resource_id.hex[:12]}-'
    versions = {
        int(tag[len(prefix) : -1])
        for tag in tags
        if tag.startswith(prefix) and tag.endswith('"') and _digits(tag[len(prefix) : -1])
    }
    return Precondition(frozenset(versions))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
