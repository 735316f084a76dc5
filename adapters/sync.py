"""A sync: read what changed at an agency since its cursor, apply each award to the ledger,
set aside what cannot be used, replay what was asked for, and report paid spend lines back.

Each page is applied in one transaction together with the cursor after it, so a sync
killed midway starts again from the last page it finished, and nothing is applied twice:
an award seen again (or an older version of it, served late) changes nothing, by the
version kept for each award and by apply_award's own idempotency. One record that fails
(broken, a person onebudget does not know, refused by a funding rule) goes to the dead
letters with the reason, in a savepoint, and the rest of the page goes on.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.base import (
    AgencyAdapter,
    AwardRecord,
    AwardStatus,
    DeliveryStatus,
    ParseFailure,
    ReportLine,
    SpendReport,
)
from adapters.http import AdapterError
from adapters.registry import make_adapter
from service.allocations.awards import AwardChange, apply_award
from service.auth.caller import Caller, system_caller
from service.budgets.service import budget_for_award
from service.config import Settings
from service.domain.errors import DomainError
from service.domain.pooling import format_pence
from service.syncs.connections import connection_of, save_cursor
from service.syncs.credentials import CredentialsError
from service.syncs.dead_letters import add_dead_letter, mark_replayed, pending_replays
from service.syncs.deliveries import owed_lines, record_delivery
from service.syncs.locks import agency_sync_lock
from service.syncs.models import AgencyAward, AgencyConnection, DeadLetter, SyncRun
from service.syncs.runs import Counts, finish_run, save_counts, start_run
from service.syncs.vocabulary import RunStatus

log = logging.getLogger(__name__)

# Told after every page and every batch of reports: (what was done so far, the stage).
Progress = Callable[[Counts, str], None]


def _quiet(counts: Counts, stage: str) -> None:
    """No progress shown."""


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """How one agency's sync ended."""

    agency_id: uuid.UUID
    run_id: uuid.UUID
    status: str  # succeeded or failed
    counts: Counts
    error: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """What applying an agency's awards needs: where they go, and who applies them."""

    connection_id: uuid.UUID
    stream_id: uuid.UUID
    agency_kind: str
    caller: Caller


def target_of(connection: AgencyConnection) -> Target:
    """The connection as the sync applies awards for it: as its agency, by the system."""
    return Target(
        connection.id,
        connection.stream_id,
        connection.adapter,
        system_caller(agency_id=connection.agency_id, purpose="sync"),
    )


def _reason(target: Target, record: AwardRecord) -> str:
    """Why an allocation changed, as its adjustment records it."""
    what = (
        "withdrawn"
        if record.status is AwardStatus.WITHDRAWN
        else f"now {format_pence(record.amount)}"
    )
    return f"{target.agency_kind} award {record.reference} version {record.version}: {what}"


async def apply_record(session: AsyncSession, target: Target, record: AwardRecord) -> AwardChange:
    """Apply one award version, once: an older or repeated version changes nothing.

    Raises a DomainError (no budget for the person, a rule refused it) for a dead letter.
    """
    key = {"connection_id": target.connection_id, "reference": record.reference}
    # Lock the award's row (made if new, at version 0: any version read is newer) so a
    # webhook and a sync never apply it together.
    await session.execute(
        insert(AgencyAward)
        .values(**key, version=0, amount=0, status="new")
        .on_conflict_do_nothing()
    )
    seen = await session.scalar(
        select(AgencyAward)
        .where(
            AgencyAward.connection_id == target.connection_id,
            AgencyAward.reference == record.reference,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert seen is not None
    if seen.version >= record.version:
        return AwardChange.UNCHANGED
    budget_id = seen.budget_id
    if budget_id is None:
        if record.funded == 0:
            # Withdrawn before onebudget allocated it: nothing to take back, wherever it was.
            change = AwardChange.IGNORED
            seen.version, seen.amount, seen.status = record.version, 0, record.status.value
            await session.flush()
            return change
        today = datetime.now(UTC).date()
        budget_id = await budget_for_award(
            session,
            target.caller,
            person_reference=record.person_ref,
            period=record.period or (today, today),
        )
    outcome = await apply_award(
        session,
        target.caller,
        budget_id=budget_id,
        stream_id=target.stream_id,
        reference=record.reference,
        amount=record.funded,
        confirmed=record.status is AwardStatus.CONFIRMED,
        reason=_reason(target, record),
    )
    seen.version, seen.amount, seen.status = record.version, record.funded, record.status.value
    seen.budget_id, seen.allocation_id = budget_id, outcome.allocation_id
    await session.flush()
    return outcome.change


def _count(counts: Counts, change: AwardChange) -> None:
    """Add one applied record to the counts."""
    if change is AwardChange.CREATED:
        counts.created += 1
    elif change is AwardChange.ADJUSTED:
        counts.adjusted += 1
    elif change is AwardChange.CONFIRMED:
        counts.confirmed += 1
    else:
        counts.unchanged += 1


async def use_record(
    session: AsyncSession,
    target: Target,
    item: AwardRecord | ParseFailure,
    *,
    run_id: uuid.UUID | None,
    cursor: str | None,
    counts: Counts,
) -> None:
    """Apply a record in a savepoint, or set it aside with why (never raising for it)."""
    counts.fetched += 1
    if isinstance(item, ParseFailure):
        reason, reference, version = item.reason, item.reference, item.version
    else:
        try:
            async with session.begin_nested():
                change = await apply_record(session, target, item)
        except DomainError as exc:
            reason, reference, version = str(exc), item.reference, item.version
        else:
            _count(counts, change)
            return
    await add_dead_letter(
        session,
        connection_id=target.connection_id,
        run_id=run_id,
        reason=reason,
        raw=item.raw,
        reference=reference,
        version=version,
        cursor=cursor,
    )
    counts.dead_lettered += 1


def _newest_versions(items: list[AwardRecord | ParseFailure]) -> dict[str, int]:
    """The newest version of each award read whole on a page."""
    newest: dict[str, int] = {}
    for item in items:
        if isinstance(item, AwardRecord):
            newest[item.reference] = max(item.version, newest.get(item.reference, 0))
    return newest


class _Sync:
    """One run of one connection's sync, under its lock."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        connection: AgencyConnection,
        adapter: AgencyAdapter,
        *,
        run_id: uuid.UUID,
        settings: Settings,
        progress: Progress,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.connection = connection
        self.target = target_of(connection)
        self.adapter = adapter
        self.run_id = run_id
        self.settings = settings
        self.progress = progress
        self.counts = Counts()

    async def pull(self) -> None:
        """Every page after the cursor; each applied with the cursor that follows it."""
        cursor = self.connection.cursor
        while True:
            page = await self.adapter.fetch_awards(cursor)
            page_counts = Counts()
            newest = _newest_versions(page.items)
            async with self.sessionmaker() as session, session.begin():
                for item in page.items:
                    if isinstance(item, AwardRecord) and item.version < newest[item.reference]:
                        # A newer version of it is on this page: only that one is applied.
                        page_counts.fetched += 1
                        page_counts.unchanged += 1
                        continue
                    await use_record(
                        session,
                        self.target,
                        item,
                        run_id=self.run_id,
                        cursor=cursor,
                        counts=page_counts,
                    )
                await save_cursor(
                    session, connection_id=self.connection.id, cursor=page.next_cursor
                )
                total = Counts()
                total.add(self.counts)
                total.add(page_counts)
                await save_counts(session, run_id=self.run_id, counts=total)
            self.counts = total
            self.progress(self.counts, "awards")
            if not page.more:
                return
            if page.next_cursor == cursor:
                raise AdapterError(f"the agency's next page starts where this one did ({cursor!r})")
            cursor = page.next_cursor

    async def _read_again(self, letter: DeadLetter) -> AwardRecord | ParseFailure | None:
        """A dead letter's record: as kept if it reads now, else as the agency has it now
        (read from the page it came on, onwards)."""
        kept = self.adapter.read(letter.raw_payload)
        if isinstance(kept, AwardRecord) or letter.reference is None:
            return kept
        cursor = letter.cursor
        while True:
            page = await self.adapter.fetch_awards(cursor)
            found = [item for item in page.items if item.reference == letter.reference]
            if found:
                return max(found, key=lambda i: (isinstance(i, AwardRecord), i.version or 0))
            if letter.reference in page.passed:
                return None
            if not page.more or page.next_cursor == cursor:
                return kept
            cursor = page.next_cursor

    async def replay(self) -> None:
        """Dead letters someone asked to replay: used now, or kept with the new reason."""
        async with self.sessionmaker() as session:
            letters = await pending_replays(session, connection_id=self.connection.id)
        for letter in letters:
            item = await self._read_again(letter)
            async with self.sessionmaker() as session, session.begin():
                if item is None:
                    outcome, done = "the agency no longer counts this record as an award", True
                elif isinstance(item, ParseFailure):
                    outcome, done = f"still unreadable: {item.reason}", False
                else:
                    try:
                        async with session.begin_nested():
                            change = await apply_record(session, self.target, item)
                    except DomainError as exc:
                        outcome, done = str(exc), False
                    else:
                        _count(self.counts, change)
                        self.counts.replayed += 1
                        outcome, done = f"applied version {item.version}: {change.value}", True
                await mark_replayed(session, letter_id=letter.id, outcome=outcome, done=done)
                await save_counts(session, run_id=self.run_id, counts=self.counts)
            self.progress(self.counts, "replays")

    async def push(self) -> None:
        """Report every paid line of the agency's streams it has not had yet."""
        while True:
            async with self.sessionmaker() as session:
                owed = await owed_lines(
                    session, connection=self.connection, limit=self.settings.agency_push_batch
                )
            if not owed:
                return
            reports = [
                SpendReport(
                    delivery_id=str(line.delivery_id),
                    person_ref=line.person_reference,
                    lines=(
                        ReportLine(
                            line.category,
                            line.occurred_on,
                            line.amount,
                            line.reason,
                            line.description,
                            line.payee,
                        ),
                    ),
                )
                for line in owed
            ]
            results = await self.adapter.push_spends(reports)
            async with self.sessionmaker() as session, session.begin():
                for line, result in zip(owed, results, strict=True):
                    await record_delivery(
                        session,
                        connection_id=self.connection.id,
                        line=line,
                        status=result.status,
                        receipt=result.receipt,
                        reason=result.reason,
                    )
                    if result.status is DeliveryStatus.REJECTED:
                        self.counts.push_rejected += 1
                    else:
                        self.counts.pushed += 1
                await save_counts(session, run_id=self.run_id, counts=self.counts)
            self.progress(self.counts, "reports")


async def _interrupted_runs_failed(session: AsyncSession, *, connection_id: uuid.UUID) -> None:
    """Runs left `running` by a killed process (the lock is ours, so none is alive)."""
    await session.execute(
        update(SyncRun)
        .where(SyncRun.connection_id == connection_id, SyncRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.FAILED, error="interrupted: the process running it stopped")
    )


async def sync_agency(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    agency_id: uuid.UUID,
    progress: Progress = _quiet,
    adapter_factory: Callable[[AgencyConnection, Settings], AgencyAdapter] = make_adapter,
) -> SyncOutcome:
    """Sync one agency now: replays asked for, awards since its cursor, spend lines owed.

    SyncBusy if another process is syncing it; a failure of the agency's system (after the
    retries) ends the run as failed, with what was done kept.
    """
    async with sessionmaker() as session:
        connection = await connection_of(session, agency_id=agency_id)
    async with agency_sync_lock(sessionmaker, connection_id=connection.id):
        async with sessionmaker() as session, session.begin():
            # The cursor as the last sync left it, read under the lock.
            fresh = await session.get(AgencyConnection, connection.id, populate_existing=True)
            assert fresh is not None
            connection = fresh
            await _interrupted_runs_failed(session, connection_id=connection.id)
            run = await start_run(session, connection_id=connection.id)
        error: str | None = None
        counts = Counts()
        try:
            adapter = adapter_factory(connection, settings)
        except (CredentialsError, KeyError) as exc:
            error = f"the agency's credentials cannot be used: {exc}"
        else:
            sync = _Sync(
                sessionmaker,
                connection,
                adapter,
                run_id=run.id,
                settings=settings,
                progress=progress,
            )
            try:
                await sync.replay()
                await sync.pull()
                await sync.push()
            except (AdapterError, ValueError, KeyError) as exc:
                error = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc)
                # The reason is in the run (the agency's words may be personal data).
                log.warning("sync of agency %s failed: %s", agency_id, type(exc).__name__)
            finally:
                counts = sync.counts
                await adapter.aclose()
        async with sessionmaker() as session, session.begin():
            run = await finish_run(session, run_id=run.id, counts=counts, error=error)
    return SyncOutcome(agency_id, run.id, run.status, counts, error)
