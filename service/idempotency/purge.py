"""Forgetting old idempotency answers: after the retention period a key is new again.

One process purges at a time, whichever holds the purge lock: every worker tries each
round, and those that find it taken skip the round. Rows go in bounded batches, each in a
short transaction of its own, so the purge never holds many row locks or a long snapshot.

A request that uses a key while its answer is being purged is safe: it either reads the
answer before the purge commits (and replays it), or finds no answer and does the work as
new; its insert of the new answer waits for the purge's delete of the old one to commit.
"""

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# A fixed key in the two-int advisory lock space: per-key locks (idempotency_claim, migration
# 0004) use the one-bigint space, so this lock can never collide with a key's.
PURGE_LOCK = (0x1DE4, 0x9097)
TRY_PURGE_LOCK = select(func.pg_try_advisory_xact_lock(*PURGE_LOCK))
BATCH_SIZE = 5_000
# ctid = ANY(ARRAY(...)) is a TID scan: the rows found through ix_idempotency_record_created_at
# are deleted where they lie, without a join. Records are never updated, so no ctid moves.
DELETE_BATCH = text(
    "DELETE FROM idempotency_record WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM idempotency_record WHERE created_at < :cutoff LIMIT :batch_size))"
)


async def purge_answers(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    written_before: datetime,
    batch_size: int = BATCH_SIZE,
) -> int | None:
    """Delete the answers written before the cutoff; how many, or None if another purges."""
    purged = 0
    while True:
        async with sessionmaker() as session, session.begin():
            if not await session.scalar(TRY_PURGE_LOCK):
                # Another process is purging (or took over between our batches): its round.
                return purged or None
            result = await session.execute(
                DELETE_BATCH, {"cutoff": written_before, "batch_size": batch_size}
            )
        deleted: int = result.rowcount  # type: ignore[attr-defined]
        purged += deleted
        if deleted < batch_size:
            return purged
