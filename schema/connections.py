"""Relay connections (edges { cursor node }, pageInfo) over the services' keyset pages.

An edge's cursor is the one REST's lists use for the same position (`?cursor=`), sealed
only when asked for. Lists page forward: `first` (1 to 500, default 50) and `after`.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from service.api.pagination import Slice
from service.domain.errors import InvalidInput

T = TypeVar("T")
V = TypeVar("V")

DEFAULT_FIRST, MAX_FIRST = 50, 500


def page_size(first: int) -> int:
    """`first` as a page size, refused outside 1 to 500 (REST's `limit`)."""
    if not 1 <= first <= MAX_FIRST:
        raise InvalidInput(
            f"first must be between 1 and {MAX_FIRST}; ask for the next page with after.",
            errors=[{"field": "first", "message": f"must be between 1 and {MAX_FIRST}"}],
        )
    return first


@strawberry.type
class PageInfo:
    """Where this page sits in the list."""

    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when the page was asked for `after` a cursor."
    )
    start_cursor: str | None
    end_cursor: str | None = strawberry.field(description="Pass it as `after` for the next page.")


@strawberry.type
class Edge(Generic[T]):
    """One item of a list, and the cursor to read on after it."""

    node: T
    _page: strawberry.Private[Slice[object]]
    _index: strawberry.Private[int]

    @strawberry.field(description="Pass it as `after` to read the items that follow this one.")
    def cursor(self) -> str:
        """The cursor just after this item."""
        return self._page.cursor(self._index)


@strawberry.type
class Connection(Generic[T]):
    """A page of a list that grows."""

    edges: list[Edge[T]]
    page_info: PageInfo


def connection(page: Slice[V], node: Callable[[V], T], *, after: str | None) -> Connection[T]:
    """A Connection of a service's page, each item shaped by `node`."""
    untyped: Slice[object] = page  # type: ignore[assignment]
    edges = [Edge(node=node(item), _page=untyped, _index=i) for i, item in enumerate(page.items)]
    info = PageInfo(
        has_next_page=page.more,
        has_previous_page=after is not None,
        start_cursor=page.cursor(0) if page.items else None,
        end_cursor=page.cursor(len(page.items) - 1) if page.items else None,
    )
    return Connection(edges=edges, page_info=info)
