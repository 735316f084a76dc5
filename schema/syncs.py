"""What an agency sees of its own system's syncs: its last run and its dead letters, each
the REST view (service.syncs.schemas) field for field, names in camelCase."""

from datetime import datetime

import strawberry

from schema.enums import RunStatus
from service.syncs.models import DeadLetter as DeadLetterRow
from service.syncs.models import SyncRun as SyncRunRow
from service.syncs.schemas import DeadLetterOut, SyncRunOut


@strawberry.type(
    description="One sync of your agency's system: what it read and what it did"
    " (REST's GET /v1/agencies/{id}/syncs item)."
)
class SyncRun:
    id: strawberry.ID
    status: RunStatus
    fetched: int = strawberry.field(description="Records read from your system, broken ones too.")
    created: int = strawberry.field(description="Awards allocated for the first time.")
    unchanged: int = strawberry.field(description="Seen before: nothing to do.")
    adjusted: int = strawberry.field(description="Amended or withdrawn: topped up or taken back.")
    confirmed: int = strawberry.field(description="Indicative awards now confirmed.")
    dead_lettered: int = strawberry.field(description="Set aside with the reason (deadLetters).")
    replayed: int = strawberry.field(description="Dead letters replayed by this run.")
    pushed: int = strawberry.field(description="Spend lines your system now has.")
    push_rejected: int = strawberry.field(description="Spend lines your system refused.")
    error: str | None = strawberry.field(description="Why the run failed; null if it did not.")
    started_at: datetime
    finished_at: datetime | None = strawberry.field(description="Null while it runs.")

    @classmethod
    def of(cls, row: SyncRunRow) -> "SyncRun":
        """The run of a row, as REST shows it."""
        view = SyncRunOut.model_validate(row)
        return cls(
            id=strawberry.ID(str(view.id)),
            status=RunStatus(view.status),
            fetched=view.fetched,
            created=view.created,
            unchanged=view.unchanged,
            adjusted=view.adjusted,
            confirmed=view.confirmed,
            dead_lettered=view.dead_lettered,
            replayed=view.replayed,
            pushed=view.pushed,
            push_rejected=view.push_rejected,
            error=view.error,
            started_at=view.started_at,
            finished_at=view.finished_at,
        )


@strawberry.type(
    description="A record your agency's system sent that could not be used, kept whole with why"
    " (REST's GET /v1/dead-letters item); replayDeadLetter asks the next sync to use it."
)
class DeadLetter:
    id: strawberry.ID
    reference: str | None = strawberry.field(description="The award's reference, if it read.")
    version: str | None = strawberry.field(
        description="The award's version, if it read: REST's integer as a string (an agency's"
        " numbers may pass GraphQL's 32-bit Int)."
    )
    reason: str = strawberry.field(description="Why it could not be used.")
    raw_payload: str = strawberry.field(description="The record as your system sent it.")
    created_at: datetime = strawberry.field(description="When it was received and set aside.")
    sync_run_id: strawberry.ID | None = strawberry.field(
        description="The run that read it; null if your system pushed it."
    )
    replay_requested_at: datetime | None = strawberry.field(
        description="When the replay (waiting, or done) was asked for; null if none was, or"
        " the last could not use it yet (ask again)."
    )
    replayed_at: datetime | None = strawberry.field(
        description="When a replay used it; null while it is still dead."
    )
    replay_outcome: str | None = strawberry.field(description="What the last replay made of it.")

    @classmethod
    def of(cls, view: DeadLetterOut) -> "DeadLetter":
        """The dead letter of REST's view."""
        return cls(
            id=strawberry.ID(str(view.id)),
            reference=view.reference,
            version=None if view.version is None else str(view.version),
            reason=view.reason,
            raw_payload=view.raw_payload,
            created_at=view.created_at,
            sync_run_id=None if view.sync_run_id is None else strawberry.ID(str(view.sync_run_id)),
            replay_requested_at=view.replay_requested_at,
            replayed_at=view.replayed_at,
            replay_outcome=view.replay_outcome,
        )

    @classmethod
    def of_row(cls, row: DeadLetterRow) -> "DeadLetter":
        """The dead letter of a row."""
        return cls.of(DeadLetterOut.model_validate(row))
