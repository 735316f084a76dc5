"""A stand-in schema for the tests of the cost formula alone (schema.limits): measured, never run.

It has the shapes the formula must handle that the real schema lacks: a connection paged by
`last`, and a connection whose default page (10) is not DEFAULT_PAGE_SIZE. Its names are the
real schema's, so a document reads the same on both.
"""

from typing import Generic, NoReturn, TypeVar

import strawberry

from schema.limits import limit_extensions
from service.config import Settings

T = TypeVar("T")


def _never() -> NoReturn:
    raise NotImplementedError("the stand-in schema is measured, never run")


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


@strawberry.type
class Stream:
    id: strawberry.ID


@strawberry.type
class Totals:
    available: int
    spent: int


@strawberry.type
class StreamBalance(Totals):
    stream: Stream


@strawberry.type
class Spend:
    id: strawberry.ID


@strawberry.type
class Budget:
    id: strawberry.ID
    currency: str
    totals: Totals
    streams: list[StreamBalance]

    @strawberry.field
    def spends(self, first: int = 10, after: str | None = None) -> Connection[Spend]:
        _never()


@strawberry.type
class Query:
    @strawberry.field
    def budgets(
        self, first: int | None = None, last: int | None = None, after: str | None = None
    ) -> Connection[Budget]:
        _never()

    @strawberry.field
    def budget(self, id: strawberry.ID) -> Budget | None:
        _never()


def standin_schema(settings: Settings) -> strawberry.Schema:
    """The stand-in schema, with the limits plugged in as the real one plugs them in."""
    return strawberry.Schema(Query, extensions=limit_extensions(settings))
