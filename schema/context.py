"""The context of one GraphQL request: its caller, its session, its loaders.

Built by the same dependencies REST uses: the request's session (service.database's
SessionDep, committed or rolled back around the request), and the caller from the same
token check and client check (service.auth.dependencies). A request without a usable token
still gets a context, so GraphiQL's page and introspection (when enabled) work; every field
that acts for a caller then answers UNAUTHENTICATED.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext

from schema.loaders import Loaders
from service.auth.caller import Caller
from service.auth.dependencies import current_caller, verified_caller
from service.auth.service import AccessRevoked
from service.clock import Clock
from service.config import Settings
from service.database import SessionDep
from service.errors import Unauthenticated

P = ParamSpec("P")
T = TypeVar("T")


class Context(BaseContext):
    """One request: who calls, its session (one statement at a time), per-request loaders.

    A subscription's context (schema.live.LiveContext) has a session only while it reads.
    """

    def __init__(
        self,
        *,
        session: AsyncSession | None,
        caller: Caller | None,
        refusal: Unauthenticated | AccessRevoked | None,
        settings: Settings,
        clock: Clock,
    ) -> None:
        super().__init__()
        self._session = session
        self.settings = settings
        self.clock = clock
        self._caller = caller
        self._refusal = refusal
        # graphql-core resolves sibling fields concurrently, and a session runs one statement
        # at a time: every use of the session takes this lock.
        self._lock = asyncio.Lock()
        self.loaders = Loaders(self)
        self.committed = False  # a mutation of this request has committed
        self.broken = False  # a mutation failed unexpectedly: the rest are not run

    @property
    def session(self) -> AsyncSession:
        """The session of the request (of a subscription: of its current read)."""
        assert self._session is not None, "a subscription reads only inside LiveContext.reading()"
        return self._session

    @property
    def caller(self) -> Caller:
        """The caller; UNAUTHENTICATED (the REST 401's reason) when there is none."""
        if self._caller is None:
            assert self._refusal is not None
            raise self._refusal
        return self._caller

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[AsyncSession]:
        """The session, to this task alone until the block ends (never nest: not re-entrant)."""
        async with self._lock:
            yield self.session

    async def serve(
        self,
        work: Callable[Concatenate[AsyncSession, Caller, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Call a service function as the caller, on the session: work(session, caller, ...)."""
        caller = self.caller
        async with self.locked() as session:
            return await work(session, caller, *args, **kwargs)

    def fresh_loaders(self) -> None:
        """Forget what was loaded: a mutation may have changed it."""
        self.loaders = Loaders(self)


async def graphql_context(request: Request, session: SessionDep) -> Context:
    """The request's Context, from REST's own session and caller dependencies."""
    caller: Caller | None = None
    refusal: Unauthenticated | AccessRevoked | None = None
    try:
        caller = await current_caller(await verified_caller(request), session)
    except (Unauthenticated, AccessRevoked) as refused:
        refusal = refused
    context = Context(
        session=session,
        caller=caller,
        refusal=refusal,
        settings=request.app.state.settings,
        clock=request.app.state.clock,
    )
    return context
