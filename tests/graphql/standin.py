"""A small stand-in for the real GraphQL schema: the caseload's shape and names, fake data.

It has what the limit and fuzz tests need: Relay-style connections with `first`, plain lists
(a budget's streams, a spend's lines), a way back up (`Spend.budget`) to nest deeply, and a
mutation. Its field names are those issue 9 fixes, so the tests' queries run on the real schema.
"""

import enum
from typing import Generic, TypeVar

import strawberry

from schema.limits import limit_extensions
from service.config import Settings

T = TypeVar("T")
MAX_PAGE = 100  # the stand-in serves at most this many items a page


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def _page(items: list[T]) -> Connection[T]:
    edges = [Edge(cursor=str(number), node=item) for number, item in enumerate(items)]
    return Connection(edges=edges, page_info=PageInfo(has_next_page=False, end_cursor=None))


def _size(first: int | None) -> int:
    return max(0, min(MAX_PAGE, 10 if first is None else first))


@strawberry.enum
class SpendStatus(enum.Enum):
    POSTED = "posted"
    PENDING_APPROVAL = "pending_approval"


@strawberry.type
class Agency:
    id: strawberry.ID
    name: str
    kind: str


@strawberry.type
class Stream:
    id: strawberry.ID
    name: str
    kind: str


@strawberry.type
class Person:
    id: strawberry.ID
    reference: str
    name: str


@strawberry.type
class Totals:
    allocated: int
    available: int
    pending: int
    spent: int
    returned: int
    indicative: int


@strawberry.type
class StreamBalance(Totals):
    stream: Stream


@strawberry.type
class SpendLine:
    stream: Stream
    agency: Agency
    amount: int
    reason: str
    approval: str


@strawberry.type
class Spend:
    id: strawberry.ID
    status: SpendStatus
    amount: int
    category: str
    description: str
    occurred_on: str
    lines: list[SpendLine]

    @strawberry.field
    def budget(self) -> "Budget":
        return _budget(0)


@strawberry.type
class Budget:
    id: strawberry.ID
    person: Person
    starts_on: str
    ends_on: str
    currency: str
    deployment: str
    totals: Totals
    streams: list[StreamBalance]

    @strawberry.field
    def spends(self, first: int = 10, after: str | None = None) -> Connection[Spend]:
        return _page([_spend(number) for number in range(_size(first))])


AGENCY = Agency(id=strawberry.ID("a1"), name="Northshire Council", kind="council")
STREAM = Stream(id=strawberry.ID("s1"), name="Adult social care", kind="social_care")
TOTALS = {
    "allocated": 300,
    "available": 100,
    "pending": 100,
    "spent": 100,
    "returned": 0,
    "indicative": 0,
}


def _spend(number: int) -> Spend:
    line = SpendLine(stream=STREAM, agency=AGENCY, amount=500, reason="Paid", approval="not_needed")
    return Spend(
        id=strawberry.ID(f"spend-{number}"),
        status=SpendStatus.POSTED,
        amount=500,
        category="equipment",
        description="Grab rails",
        occurred_on="2026-11-24",
        lines=[line],
    )


def _budget(number: int) -> Budget:
    return Budget(
        id=strawberry.ID(f"budget-{number}"),
        person=Person(id=strawberry.ID(f"person-{number}"), reference="P1", name="Amira"),
        starts_on="2026-04-01",
        ends_on="2027-03-31",
        currency="GBP",
        deployment="direct_payment",
        totals=Totals(**TOTALS),
        streams=[StreamBalance(stream=STREAM, **TOTALS)],
    )


@strawberry.type
class Query:
    @strawberry.field
    def budgets(
        self, first: int | None = None, last: int | None = None, after: str | None = None
    ) -> Connection[Budget]:
        return _page([_budget(number) for number in range(_size(first or last))])

    @strawberry.field
    def budget(self, id: strawberry.ID) -> Budget | None:
        return _budget(0)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def record_spend(
        self, budget_id: strawberry.ID, amount: int, idempotency_key: str
    ) -> Spend | None:
        return _spend(0)


def standin_schema(settings: Settings) -> strawberry.Schema:
    """The stand-in schema, with the limits plugged in as the real one plugs them in."""
    return strawberry.Schema(Query, Mutation, extensions=limit_extensions(settings))
