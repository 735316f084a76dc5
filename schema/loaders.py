"""Per-request DataLoaders: each batches the loads of one event-loop tick into one service
call, so a page of fifty budgets costs the same few statements as a page of five."""

import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from service.agencies.models import Agency
from service.agencies.service import get_agencies
from service.allocations.service import AllocationView, allocations_of
from service.api.pagination import Slice
from service.budgets.service import BudgetView, TransferView, get_budgets, transfers_of_budgets
from service.domain.errors import NotFound
from service.domain.vocabulary import SpendKind
from service.people.service import PersonView, get_people
from service.spends.service import awaiting_approval, spends_of_budgets
from service.spends.views import SpendView
from service.streams.service import StreamView, own_streams, streams_shown
from service.syncs.dead_letters import agency_dead_letters
from service.syncs.models import DeadLetter, SyncRun
from service.syncs.runs import last_runs

if TYPE_CHECKING:
    from schema.context import Context

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
G = TypeVar("G", bound=Hashable)

# (budget id, kind, first, after): one page of a budget's spends or commitments.
SpendPageKey = tuple[uuid.UUID, SpendKind, int, str | None]
# (budget id, first, after): one page of a budget's transfers.
TransferPageKey = tuple[uuid.UUID, int, str | None]
# (agency id, first, after): one page of an agency's dead letters.
DeadLetterPageKey = tuple[uuid.UUID, int, str | None]


def _by_id(
    found: Mapping[uuid.UUID, V], keys: Sequence[uuid.UUID], what: str
) -> list[V | BaseException]:
    """The value for each key; NotFound (as REST's 404) for those not found or not reached."""
    return [
        found[key] if key in found else NotFound(f"No {what} {key} is within your reach.")
        for key in keys
    ]


def _grouped(keys: Sequence[K], group: Callable[[K], G]) -> dict[G, list[int]]:
    """Key positions grouped, so keys that differ only in their owner share one query."""
    groups: dict[G, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(group(key), []).append(index)
    return groups


class Loaders:
    """The loaders of one request (or of one mutation: a mutation starts afresh)."""

    def __init__(self, context: "Context") -> None:
        self.context = context
        self.budget = DataLoader[uuid.UUID, BudgetView](self._budgets)
        self.person = DataLoader[uuid.UUID, PersonView](self._people)
        self.agency = DataLoader[uuid.UUID, Agency](self._agencies)
        self.stream_shown = DataLoader[uuid.UUID, StreamView](self._streams_shown)
        self.own_stream = DataLoader[uuid.UUID, StreamView](self._own_streams)
        self.allocations = DataLoader[uuid.UUID, list[AllocationView]](self._allocations)
        self.awaiting = DataLoader[uuid.UUID, list[SpendView]](self._awaiting)
        self.spend_page = DataLoader[SpendPageKey, Slice[SpendView]](self._spend_pages)
        self.transfer_page = DataLoader[TransferPageKey, Slice[TransferView]](self._transfer_pages)
        # A page of fifty budgets asking each lead agency's last sync reads it once.
        self.last_sync = DataLoader[uuid.UUID, SyncRun | None](self._last_syncs)
        self.dead_letter_page = DataLoader[DeadLetterPageKey, Slice[DeadLetter]](
            self._dead_letter_pages
        )

    async def _budgets(self, keys: list[uuid.UUID]) -> list[BudgetView | BaseException]:
        found = await self.context.serve(get_budgets, budget_ids=keys)
        return _by_id(found, keys, "budget")

    async def _people(self, keys: list[uuid.UUID]) -> list[PersonView | BaseException]:
        found = await self.context.serve(get_people, person_ids=keys)
        return _by_id(found, keys, "person")

    async def _agencies(self, keys: list[uuid.UUID]) -> list[Agency | BaseException]:
        self.context.caller  # noqa: B018 - the directory needs a valid token, no scope
        async with self.context.locked() as session:
            found = await get_agencies(session, agency_ids=keys)
        return _by_id(found, keys, "agency")

    async def _streams_shown(self, keys: list[uuid.UUID]) -> list[StreamView | BaseException]:
        found = await self.context.serve(streams_shown, stream_ids=keys)
        return _by_id(found, keys, "funding stream")

    async def _own_streams(self, keys: list[uuid.UUID]) -> list[StreamView | BaseException]:
        found = await self.context.serve(own_streams, stream_ids=keys)
        return _by_id({stream.id: stream for stream in found}, keys, "funding stream")

    async def _allocations(self, keys: list[uuid.UUID]) -> list[list[AllocationView]]:
        found: dict[uuid.UUID, list[AllocationView]] = {key: [] for key in keys}
        for allocation in await self.context.serve(allocations_of, budget_ids=keys):
            found[allocation.budget_id].append(allocation)
        return [found[key] for key in keys]

    async def _awaiting(self, keys: list[uuid.UUID]) -> list[list[SpendView]]:
        found = await self.context.serve(awaiting_approval, budget_ids=keys)
        return [found[key] for key in keys]

    async def _spend_pages(self, keys: list[SpendPageKey]) -> list[Slice[SpendView]]:
        pages: list[Any] = [None] * len(keys)
        for (kind, first), positions in _grouped(keys, lambda key: (key[1], key[2])).items():
            wanted = [(keys[i][0], keys[i][3]) for i in positions]
            found = await self.context.serve(
                spends_of_budgets, pages=wanted, kind=kind, limit=first
            )
            for i, page in zip(positions, found, strict=True):
                pages[i] = page
        return pages

    async def _transfer_pages(self, keys: list[TransferPageKey]) -> list[Slice[TransferView]]:
        pages: list[Any] = [None] * len(keys)
        for first, positions in _grouped(keys, lambda key: key[1]).items():
            wanted = [(keys[i][0], keys[i][2]) for i in positions]
            found = await self.context.serve(transfers_of_budgets, pages=wanted, limit=first)
            for i, page in zip(positions, found, strict=True):
                pages[i] = page
        return pages

    async def _last_syncs(self, keys: list[uuid.UUID]) -> list[SyncRun | None | BaseException]:
        found = await self.context.serve(last_runs, agency_ids=keys)
        return [
            found[key]
            if key in found
            else NotFound(f"No syncs of agency {key} are within your reach.")
            for key in keys
        ]

    async def _dead_letter_pages(
        self, keys: list[DeadLetterPageKey]
    ) -> list[Slice[DeadLetter] | BaseException]:
        # Keys come deduplicated, and only the caller's own agency is within reach (the
        # others cost no statement): one page read per distinct page asked for.
        pages: list[Slice[DeadLetter] | BaseException] = []
        for agency_id, first, after in keys:
            try:
                pages.append(
                    await self.context.serve(
                        agency_dead_letters, agency_id=agency_id, cursor=after, limit=first
                    )
                )
            except NotFound as hidden:
                pages.append(hidden)
        return pages
