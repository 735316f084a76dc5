"""Messages an agency pushes to onebudget (the equipment service's Standard Webhooks):
verified with the connection's secret, taken once per webhook-id, applied like a synced
record (or set aside as a dead letter), in one transaction.

An agency posts to `POST /inbound/agencies/{agency_id}`; its connection's credentials hold
`webhook_secret`, the `whsec_…` secret it signs with.
"""

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.equipment import read, verify
from adapters.sync import target_of, use_record
from service.config import Settings
from service.domain.errors import NotFound
from service.syncs.connections import connection_of
from service.syncs.credentials import CredentialsError, connection_credentials
from service.syncs.models import InboundMessage
from service.syncs.runs import Counts

log = logging.getLogger(__name__)

# Adapters whose agencies push messages, and how each reads one.
PUSHING = {"equipment": read}


class InboundRefused(Exception):
    """The message is not taken; `status` says why to the sender (401: not signed by it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    """What became of a message: applied, set aside, or a duplicate of one taken before."""

    status: str  # applied, dead_lettered, duplicate
    message_id: str


async def receive(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    agency_id: uuid.UUID,
    body: bytes,
    headers: Mapping[str, str],
) -> InboundOutcome:
    """Take one pushed message from an agency; InboundRefused if it cannot be taken."""
    async with sessionmaker() as session, session.begin():
        try:
            connection = await connection_of(session, agency_id=agency_id)
        except NotFound:
            raise InboundRefused(404, f"agency {agency_id} takes no pushed messages") from None
        reader = PUSHING.get(connection.adapter)
        if reader is None:
            raise InboundRefused(404, f"agency {agency_id} takes no pushed messages")
        try:
            secret = connection_credentials(
                credentials_file=connection.credentials_file,
                agency_id=agency_id,
                settings_file=settings.agency_credentials_file,
            ).get("webhook_secret")
        except CredentialsError as exc:
            log.error("inbound message refused: %s", exc)
            secret = None
        if not secret:
            raise InboundRefused(503, "the agency's webhook secret is not configured")
        try:
            verify(secret, body, headers)
        except WebhookVerificationError as exc:
            raise InboundRefused(401, f"the signature does not verify: {exc}") from None
        message_id = headers.get("webhook-id", "")
        first = await session.scalar(
            insert(InboundMessage)
            .values(connection_id=connection.id, message_id=message_id[:200])
            .on_conflict_do_nothing()
            .returning(InboundMessage.message_id)
        )
        if first is None:
            return InboundOutcome("duplicate", message_id)
        counts = Counts()
        item = reader(body.decode("utf-8", errors="replace"))
        await use_record(
            session, target_of(connection), item, run_id=None, cursor=None, counts=counts
        )
    status = "dead_lettered" if counts.dead_lettered else "applied"
    return InboundOutcome(status, message_id)
