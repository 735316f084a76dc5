"""Each mutation is one transaction, committed only when it succeeded.

Strawberry catches what a resolver raises and still answers 200, so the commit cannot be
left to the request: this field extension ends the mutation's transaction itself. A refusal
rolls back everything the mutation wrote and becomes its typed result (or, for access, its
error); success commits. The next mutation of the document starts a new transaction, on the
state the last one left committed, with loaders that forget what was read before.

An unexpected error rolls back too, and the rest of the document is not run. While nothing
of the request has committed, the error goes up to the app's middleware, exactly as a REST
request's would: a retry of a conflicted transaction (RetryConflicts), a 503 when the
database did not answer, a 500 otherwise. Once an earlier mutation has committed, a failed
request would hide that; the field answers an error with code BUSY, DATABASE_UNAVAILABLE or
INTERNAL_SERVER_ERROR instead (REST's slugs busy, database-unavailable, server-error).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from schema.context import Context
from schema.errors import Refused, failure_code, is_access, refusal_result
from service.domain.errors import DomainError
from service.errors import Problem
from service.ops.boundary import log_unexpected

AFTER_COMMIT = {
    "BUSY": "The budget was busy with other changes; this mutation was not carried out.",
    "DATABASE_UNAVAILABLE": (
        "The database did not answer, so this mutation may or may not have been carried"
        " out. Send it again with the same idempotencyKey: it is carried out at most once."
    ),
    "INTERNAL_SERVER_ERROR": "Something went wrong on our side; this mutation was not carried out.",
}
NOT_RUN = (
    "Not carried out: an earlier mutation of this document failed on our side. Send this"
    " one again (with the same idempotencyKey)."
)


def _after_commit(error: BaseException) -> GraphQLError:
    """The error a mutation answers when it failed unexpectedly after another committed."""
    code, slug = failure_code(error)
    return GraphQLError(AFTER_COMMIT[code], extensions={"code": code, "type": slug})


async def _end(context: Context, *, commit: bool) -> None:
    async with context.locked() as session:
        await (session.commit() if commit else session.rollback())
    context.fresh_loaders()


class OneTransaction(FieldExtension):
    """Run a mutation field as one transaction (see the module docstring)."""

    def __init__(self, *, funds: bool = False) -> None:
        self.funds = funds  # the field's result may be InsufficientFunds

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[Context, None], **kwargs: Any
    ) -> Any:
        """Mutations are async only."""
        raise NotImplementedError("mutations are async")

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: Info[Context, None],
        **kwargs: Any,
    ) -> Any:
        """Run the mutation, then commit it or roll it back."""
        context = info.context
        if context.broken:
            raise GraphQLError(NOT_RUN, extensions={"code": "NOT_RUN"})
        context.fresh_loaders()
        try:
            result = await next_(source, info, **kwargs)
            await _end(context, commit=True)
        except (DomainError, Problem) as refused:
            await _end(context, commit=False)
            return self._refused(refused)
        except Exception as error:
            context.broken = True
            try:
                await _end(context, commit=False)
            except Exception:  # noqa: BLE001 - the first error is the one to answer for
                pass
            if not context.committed:
                raise
            log_unexpected("mutation failed after another committed", error)
            raise _after_commit(error) from None
        context.committed = True
        return result

    def _refused(self, refused: Refused) -> Any:
        if is_access(refused):
            raise refused
        return refusal_result(refused, funds=self.funds)
