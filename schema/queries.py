"""Queries: the entry points of reads. Objects come by their REST UUID; lists that grow are
connections; everything is within the caller's reach, as the services decide."""

import uuid
from datetime import date

import strawberry

from schema.connections import DEFAULT_FIRST, Connection, connection, page_size
from schema.scalars import Money, parse_id
from schema.types import (
    Agency,
    Allocation,
    Budget,
    Commitment,
    Ctx,
    Node,
    Person,
    Spend,
    Stream,
    Viewer,
)
from service.allocations.service import allocations_of
from service.budgets.service import BudgetFilter, budgets_slice
from service.domain.errors import MissingScope, NotFound
from service.domain.vocabulary import SpendKind
from service.objects import kind_of
from service.people.service import people_slice
from service.spends.service import get_spend
from service.streams.service import get_stream, own_streams


@strawberry.input(
    description="Which budgets of the caseload to list; leave a field out to skip it."
)
class BudgetFilterInput:
    awaiting_approval: bool | None = strawberry.field(
        default=None, description="true: with a spend or commitment awaiting approval; false: none."
    )
    available_below: Money | None = strawberry.field(
        default=None, description="Less than this in total is free to spend."
    )
    active_on: date | None = strawberry.field(
        default=None, description="The day falls within the budget's period."
    )


async def _spend(info: Ctx, spend_id: uuid.UUID, kind: SpendKind) -> Spend | Commitment:
    view = await info.context.serve(get_spend, spend_id=spend_id, kind=kind)
    return Commitment.of(view) if kind is SpendKind.COMMITMENT else Spend.of(view)


async def _node(info: Ctx, object_id: uuid.UUID, kind: str | None) -> Node:
    loaders = info.context.loaders
    if kind == "budget":
        return Budget.of(await loaders.budget.load(object_id))
    if kind == "person":
        return Person.of(await loaders.person.load(object_id))
    if kind in (SpendKind.SPEND, SpendKind.COMMITMENT):
        return await _spend(info, object_id, SpendKind(kind))
    if kind == "stream":
        return Stream.of(await info.context.serve(get_stream, stream_id=object_id))
    if kind == "allocation":
        found = await info.context.serve(allocations_of, allocation_ids=[object_id])
        if found:
            return Allocation.of(found[0])
    if kind == "agency":
        return Agency.of(await loaders.agency.load(object_id))
    raise NotFound("")


@strawberry.type(description="Reads. Everything answered is within your agency's reach.")
class Query:
    @strawberry.field(description="Who is calling.")
    def viewer(self, info: Ctx) -> Viewer:
        """The caller: its client, agency and scopes."""
        caller = info.context.caller
        return Viewer(
            client_id=caller.client_id, scopes=sorted(caller.scopes), _agency_id=caller.agency_id
        )

    @strawberry.field(description="A budget by its id (budgets:read).")
    async def budget(self, info: Ctx, id: strawberry.ID) -> Budget | None:
        """One budget."""
        budget_id = parse_id(id, what="budget")
        return Budget.of(await info.context.loaders.budget.load(budget_id))

    @strawberry.field(description="A person by their id (people:read).")
    async def person(self, info: Ctx, id: strawberry.ID) -> Person | None:
        """One person."""
        person_id = parse_id(id, what="person")
        return Person.of(await info.context.loaders.person.load(person_id))

    @strawberry.field(description="A spend by its id (spends:read).")
    async def spend(self, info: Ctx, id: strawberry.ID) -> Spend | None:
        """One spend."""
        found = await _spend(info, parse_id(id, what="spend"), SpendKind.SPEND)
        assert isinstance(found, Spend)
        return found

    @strawberry.field(description="A commitment by its id (spends:read).")
    async def commitment(self, info: Ctx, id: strawberry.ID) -> Commitment | None:
        """One commitment."""
        found = await _spend(info, parse_id(id, what="commitment"), SpendKind.COMMITMENT)
        assert isinstance(found, Commitment)
        return found

    @strawberry.field(
        description="Any object by its id (the UUID REST uses). NOT_FOUND for anything you"
        " cannot read, whatever the reason, so an id tells nothing of what it names."
    )
    async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
        """Any object."""
        object_id = parse_id(id, what="object")
        info.context.caller  # noqa: B018 - UNAUTHENTICATED before anything is looked up
        async with info.context.locked() as session:
            kind = await kind_of(session, object_id=object_id)
        try:
            return await _node(info, object_id, kind)
        except (NotFound, MissingScope):
            raise NotFound(f"No object {id} is within your reach.") from None

    @strawberry.field(
        description="Budgets your agency leads or funds (a caseload), oldest first (budgets:read)."
    )
    async def budgets(
        self,
        info: Ctx,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        filter: BudgetFilterInput | None = None,
    ) -> Connection[Budget]:
        """A page of budgets."""
        wanted = filter or BudgetFilterInput()
        page = await info.context.serve(
            budgets_slice,
            filter=BudgetFilter(
                awaiting_approval=wanted.awaiting_approval,
                available_below=wanted.available_below,
                active_on=wanted.active_on,
            ),
            cursor=after,
            limit=page_size(first),
        )
        return connection(page, Budget.of, after=after)

    @strawberry.field(
        description="People your agency registered or whose budgets it reaches, oldest first"
        " (people:read)."
    )
    async def people(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Person]:
        """A page of people."""
        page = await info.context.serve(people_slice, cursor=after, limit=page_size(first))
        return connection(page, Person.of, after=after)

    @strawberry.field(description="Your agency's funding streams, oldest first (streams:read).")
    async def streams(self, info: Ctx) -> list[Stream]:
        """Your agency's streams."""
        return [Stream.of(view) for view in await info.context.serve(own_streams)]
