"""Object types: what a front-end reads. Each wraps a service view; its related objects come
from the request's loaders, so a page of budgets costs the same few queries as one."""

import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from schema.connections import DEFAULT_FIRST, Connection, connection, page_size
from schema.context import Context
from schema.enums import (
    AccountKind,
    AgencyKind,
    AllocationStatus,
    Approval,
    Category,
    Deployment,
    SpendStatus,
    StreamKind,
    TransferKind,
    Unspent,
)
from schema.scalars import Money
from schema.syncs import DeadLetter, SyncRun
from service.agencies.models import Agency as AgencyRow
from service.allocations.service import AllocationView
from service.budgets.balances import StreamTotals
from service.budgets.balances import Totals as TotalsView
from service.budgets.service import (
    BudgetFilter,
    BudgetView,
    FunderView,
    StatementView,
    TransferView,
    budgets_slice,
    statement,
)
from service.domain.vocabulary import SpendKind
from service.people.service import PersonView
from service.spends.views import LineView, SpendView
from service.streams.service import StreamView

Ctx = Info[Context, None]


def _id(value: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.interface(description="Any object with an id: the same UUID REST uses for it.")
class Node:
    id: strawberry.ID


@strawberry.type(description="A partner agency, as the directory shows it.")
class Agency(Node):
    name: str
    kind: AgencyKind

    @classmethod
    def of(cls, row: AgencyRow) -> "Agency":
        """The agency of a directory row."""
        return cls(id=_id(row.id), name=row.name, kind=AgencyKind(row.kind))

    @strawberry.field(
        description="Your agency's latest sync with its own system; null if it never synced."
        " NOT_FOUND for another agency (as REST's GET /v1/agencies/{id}/syncs), FORBIDDEN"
        " without syncs:read."
    )
    async def last_sync(self, info: Ctx) -> SyncRun | None:
        """The agency's latest run."""
        run = await info.context.loaders.last_sync.load(uuid.UUID(self.id))
        return None if run is None else SyncRun.of(run)

    @strawberry.field(
        description="Records your agency's system sent that could not be used, newest first"
        " (REST's GET /v1/dead-letters). NOT_FOUND for another agency, FORBIDDEN without"
        " syncs:read."
    )
    async def dead_letters(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[DeadLetter] | None:
        """The agency's dead letters."""
        key = (uuid.UUID(self.id), page_size(first), after)
        page = await info.context.loaders.dead_letter_page.load(key)
        return connection(page, DeadLetter.of_row, after=after)


async def _agency(info: Ctx, agency_id: uuid.UUID) -> Agency:
    return Agency.of(await info.context.loaders.agency.load(agency_id))


@strawberry.type(description="Who is calling: the OAuth client, its agency and its scopes.")
class Viewer:
    client_id: str
    scopes: list[str]
    _agency_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The agency the client acts for.")
    async def agency(self, info: Ctx) -> Agency:
        """The caller's agency."""
        return await _agency(info, self._agency_id)


@strawberry.type(description="A stream's rules: read only by the agency whose stream it is.")
class StreamRules:
    categories: list[Category] | None = strawberry.field(
        description="What the money may pay for; null: flexible, it pays for any category."
    )
    unspent: Unspent
    cap_amount: Money | None
    approval_threshold_amount: Money | None


@strawberry.type(description="A funding stream: one agency's pot of money and its rules.")
class Stream(Node):
    name: str
    kind: StreamKind
    created_at: datetime
    _view: strawberry.Private[StreamView]

    @classmethod
    def of(cls, view: StreamView) -> "Stream":
        """The stream of a service view."""
        return cls(
            id=_id(view.id), name=view.name, kind=view.kind, created_at=view.created_at, _view=view
        )

    @strawberry.field(description="The agency whose stream it is.")
    async def agency(self, info: Ctx) -> Agency:
        """The owning agency."""
        return await _agency(info, self._view.agency_id)

    @strawberry.field(
        description="Its rules; NOT_FOUND for another agency's stream (as in REST), and"
        " FORBIDDEN without streams:read."
    )
    async def rules(self, info: Ctx) -> StreamRules | None:
        """The stream's rules, to its own agency."""
        view = await info.context.loaders.own_stream.load(self._view.id)
        return StreamRules(
            categories=view.categories,
            unspent=view.unspent,
            cap_amount=_money(view.cap_amount),
            approval_threshold_amount=_money(view.approval_threshold_amount),
        )


def _money(amount: int | None) -> Money | None:
    return None if amount is None else Money(amount)


async def _stream(info: Ctx, stream_id: uuid.UUID) -> Stream:
    return Stream.of(await info.context.loaders.stream_shown.load(stream_id))


@strawberry.type(
    description="Money on a budget, in minor units. allocated = available + pending + spent +"
    " returned; indicative money is announced but not confirmed, and cannot be spent."
)
class Totals:
    allocated: Money
    available: Money
    pending: Money
    spent: Money
    returned: Money
    indicative: Money

    @classmethod
    def of(cls, totals: TotalsView) -> "Totals":
        """The totals of a service view."""
        return cls(
            allocated=Money(totals.allocated),
            available=Money(totals.available),
            pending=Money(totals.pending),
            spent=Money(totals.spent),
            returned=Money(totals.returned),
            indicative=Money(totals.indicative),
        )


@strawberry.type(description="One stream's share of a budget.")
class StreamBalance(Totals):
    _stream_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of_stream(cls, totals: StreamTotals) -> "StreamBalance":
        """One stream's balance of a service view."""
        money = Totals.of(totals)
        return cls(**vars(money), _stream_id=totals.stream_id)

    @strawberry.field(description="The stream.")
    async def stream(self, info: Ctx) -> Stream:
        """The stream this share is of."""
        return await _stream(info, self._stream_id)


@strawberry.type(description="What one stream pays (or paid, or holds) of a spend, and why.")
class Line:
    amount: Money
    reason: str
    approval: Approval
    _view: strawberry.Private[LineView]

    @classmethod
    def of(cls, view: LineView) -> "Line":
        """The line of a service view."""
        return cls(
            amount=Money(view.amount), reason=view.reason, approval=view.approval, _view=view
        )

    @strawberry.field(description="The stream that pays.")
    async def stream(self, info: Ctx) -> Stream:
        """The paying stream."""
        return await _stream(info, self._view.stream_id)

    @strawberry.field(description="The agency whose stream pays.")
    async def agency(self, info: Ctx) -> Agency:
        """The paying stream's agency."""
        return await _agency(info, self._view.agency_id)


async def _budget(info: Ctx, budget_id: uuid.UUID) -> "Budget":
    return Budget.of(await info.context.loaders.budget.load(budget_id))


@strawberry.type(description="A purchase paid from a budget, split across its streams.")
class Spend(Node):
    status: SpendStatus
    amount: Money
    category: Category
    description: str
    occurred_on: date
    payee: str | None
    created_at: datetime
    lines: list[Line]
    _view: strawberry.Private[SpendView]

    @classmethod
    def of(cls, view: SpendView) -> "Spend":
        """The spend of a service view."""
        assert view.occurred_on is not None
        return cls(
            id=_id(view.id),
            status=view.status,
            amount=Money(view.amount),
            category=view.category,
            description=view.description,
            occurred_on=view.occurred_on,
            payee=view.payee,
            created_at=view.created_at,
            lines=[Line.of(line) for line in view.lines],
            _view=view,
        )

    @strawberry.field(description="The budget it was paid from.")
    async def budget(self, info: Ctx) -> "Budget":
        """The budget."""
        return await _budget(info, self._view.budget_id)


@strawberry.type(description="Money held for booked support until posted, voided or expired.")
class Commitment(Node):
    status: SpendStatus
    amount: Money
    posted_amount: Money | None
    category: Category
    description: str
    expires_at: datetime
    created_at: datetime
    lines: list[Line]
    _view: strawberry.Private[SpendView]

    @classmethod
    def of(cls, view: SpendView) -> "Commitment":
        """The commitment of a service view."""
        assert view.expires_at is not None
        return cls(
            id=_id(view.id),
            status=view.status,
            amount=Money(view.amount),
            posted_amount=_money(view.posted_amount),
            category=view.category,
            description=view.description,
            expires_at=view.expires_at,
            created_at=view.created_at,
            lines=[Line.of(line) for line in view.lines],
            _view=view,
        )

    @strawberry.field(description="The budget it holds money of.")
    async def budget(self, info: Ctx) -> "Budget":
        """The budget."""
        return await _budget(info, self._view.budget_id)


@strawberry.type(description="Money returned to the streams that paid a spend.")
class Reversal:
    id: strawberry.ID
    amount: Money
    created_at: datetime
    lines: list[Line]
    _view: strawberry.Private[SpendView]

    @classmethod
    def of(cls, view: SpendView) -> "Reversal":
        """The reversal of a service view."""
        return cls(
            id=_id(view.id),
            amount=Money(view.amount),
            created_at=view.created_at,
            lines=[Line.of(line) for line in view.lines],
            _view=view,
        )

    @strawberry.field(description="The id of the spend it reversed.")
    def spend_id(self) -> strawberry.ID:
        """The reversed spend's id."""
        assert self._view.reverses_id is not None
        return _id(self._view.reverses_id)

    @strawberry.field(description="The budget the money went back to.")
    async def budget(self, info: Ctx) -> "Budget":
        """The budget."""
        return await _budget(info, self._view.budget_id)


AwaitingApproval = Annotated[
    Spend | Commitment,
    strawberry.union("AwaitingApproval", description="A spend or commitment awaiting approval."),
]


def outgoing(view: SpendView) -> Spend | Commitment:
    """A spend or a commitment, as its kind says."""
    return Commitment.of(view) if view.kind is SpendKind.COMMITMENT else Spend.of(view)


@strawberry.type(
    description="Money a stream puts into a budget; only confirmed money is spendable."
)
class Allocation(Node):
    amount: Money
    status: AllocationStatus
    confirmed_at: datetime | None
    created_at: datetime
    _view: strawberry.Private[AllocationView]

    @classmethod
    def of(cls, view: AllocationView) -> "Allocation":
        """The allocation of a service view."""
        return cls(
            id=_id(view.id),
            amount=Money(view.amount),
            status=view.status,
            confirmed_at=view.confirmed_at,
            created_at=view.created_at,
            _view=view,
        )

    @strawberry.field(description="The stream the money comes from.")
    async def stream(self, info: Ctx) -> Stream:
        """The giving stream."""
        return await _stream(info, self._view.stream_id)

    @strawberry.field(description="The budget the money goes to.")
    async def budget(self, info: Ctx) -> "Budget":
        """The budget."""
        return await _budget(info, self._view.budget_id)


@strawberry.type(description="One ledger transfer between two of a stream's accounts.")
class Transfer:
    id: strawberry.ID
    debit_account: AccountKind
    credit_account: AccountKind
    amount: Money
    kind: TransferKind
    pending_id: strawberry.ID | None
    code: str
    reference_id: strawberry.ID | None
    created_at: datetime
    _view: strawberry.Private[TransferView]

    @classmethod
    def of(cls, view: TransferView) -> "Transfer":
        """The transfer of a service view."""
        return cls(
            id=_id(view.id),
            debit_account=AccountKind(view.debit_account),
            credit_account=AccountKind(view.credit_account),
            amount=Money(view.amount),
            kind=TransferKind(view.kind),
            pending_id=None if view.pending_id is None else _id(view.pending_id),
            code=view.code,
            reference_id=None if view.reference_id is None else _id(view.reference_id),
            created_at=view.created_at,
            _view=view,
        )

    @strawberry.field(description="The stream whose accounts these are.")
    async def stream(self, info: Ctx) -> Stream:
        """The stream."""
        return await _stream(info, self._view.stream_id)


@strawberry.type(description="A budget's totals and streams as they stood at a moment.")
class Statement:
    as_of: datetime
    currency: str
    totals: Totals
    streams: list[StreamBalance]

    @classmethod
    def of(cls, view: StatementView) -> "Statement":
        """The statement of a service view."""
        return cls(
            as_of=view.as_of,
            currency=view.currency,
            totals=Totals.of(view.totals),
            streams=[StreamBalance.of_stream(s) for s in view.streams],
        )


@strawberry.type(description="A person who holds budgets. Personal data: reached with care.")
class Person(Node):
    reference: str
    name: str
    date_of_birth: date
    created_at: datetime

    @classmethod
    def of(cls, view: PersonView) -> "Person":
        """The person of a service view."""
        return cls(
            id=_id(view.id),
            reference=view.reference,
            name=view.name,
            date_of_birth=view.date_of_birth,
            created_at=view.created_at,
        )

    @strawberry.field(description="Their budgets within your reach, oldest first.")
    async def budgets(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> "Connection[Budget]":
        """The person's budgets."""
        page = await info.context.serve(
            budgets_slice,
            filter=BudgetFilter(person_id=uuid.UUID(self.id)),
            cursor=after,
            limit=page_size(first),
        )
        return connection(page, Budget.of, after=after)


@strawberry.type(description="One person's pooled money for one period, led by one agency.")
class Budget(Node):
    starts_on: date
    ends_on: date
    currency: str
    deployment: Deployment
    created_at: datetime
    totals: Totals
    streams: list[StreamBalance]
    _view: strawberry.Private[BudgetView]

    @classmethod
    def of(cls, view: BudgetView) -> "Budget":
        """The budget of a service view."""
        return cls(
            id=_id(view.id),
            starts_on=view.starts_on,
            ends_on=view.ends_on,
            currency=view.currency,
            deployment=view.deployment,
            created_at=view.created_at,
            totals=Totals.of(view.totals),
            streams=[StreamBalance.of_stream(s) for s in view.streams],
            _view=view,
        )

    @strawberry.field(description="Whose budget it is (needs people:read).")
    async def person(self, info: Ctx) -> Person | None:
        """The budget holder."""
        return Person.of(await info.context.loaders.person.load(self._view.person_id))

    @strawberry.field(description="The agency that opened the budget and leads it.")
    async def lead_agency(self, info: Ctx) -> Agency:
        """The lead agency."""
        return await _agency(info, self._view.lead_agency_id)

    @strawberry.field(description="Where its money came from, oldest first.")
    async def allocations(self, info: Ctx) -> list[Allocation] | None:
        """The budget's allocations."""
        found = await info.context.loaders.allocations.load(self._view.id)
        return [Allocation.of(view) for view in found]

    @strawberry.field(description="What it paid for, newest first (needs spends:read).")
    async def spends(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Spend] | None:
        """The budget's spends."""
        key = (self._view.id, SpendKind.SPEND, page_size(first), after)
        page = await info.context.loaders.spend_page.load(key)
        return connection(page, Spend.of, after=after)

    @strawberry.field(description="Money held for booked support, newest first (spends:read).")
    async def commitments(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Commitment] | None:
        """The budget's commitments."""
        key = (self._view.id, SpendKind.COMMITMENT, page_size(first), after)
        page = await info.context.loaders.spend_page.load(key)
        return connection(page, Commitment.of, after=after)

    @strawberry.field(
        description="Spends and commitments awaiting any agency's approval, oldest first."
    )
    async def awaiting_approval(self, info: Ctx) -> list[AwaitingApproval] | None:
        """What waits for approval on the budget."""
        return [outgoing(view) for view in await info.context.loaders.awaiting.load(self._view.id)]

    @strawberry.field(description="The ledger, newest first (needs ledger:read).")
    async def transfers(
        self, info: Ctx, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Transfer] | None:
        """The budget's transfers."""
        key = (self._view.id, page_size(first), after)
        page = await info.context.loaders.transfer_page.load(key)
        return connection(page, Transfer.of, after=after)

    @strawberry.field(description="Its totals and streams as they stood at asOf (default now).")
    async def statement(self, info: Ctx, as_of: datetime | None = None) -> Statement | None:
        """The budget as it stood."""
        moment = as_of or info.context.clock()
        if moment.tzinfo is None:
            moment = moment.astimezone()
        view = await info.context.serve(statement, budget_id=self._view.id, as_of=moment)
        return Statement.of(view)


@strawberry.type(description="An agency brought onto a budget as a funder.")
class Funder:
    created_at: datetime
    _view: strawberry.Private[FunderView]

    @strawberry.field(description="The budget.")
    async def budget(self, info: Ctx) -> Budget:
        """The budget funded."""
        return await _budget(info, self._view.budget_id)

    @strawberry.field(description="The funding agency.")
    async def agency(self, info: Ctx) -> Agency:
        """The funder."""
        return await _agency(info, self._view.agency_id)
