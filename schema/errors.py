"""Refusals and errors, answered from the one table REST uses (service.errors.describe).

- An error of access (the REST status 401, 403 or 404) is a GraphQL error: the field is
  null, and `extensions.code` is UNAUTHENTICATED, FORBIDDEN (naming the scope or the role
  that may) or NOT_FOUND, the same for an object outside reach as for one that does not
  exist. `extensions.type` is REST's problem slug, with its extra fields in camelCase.
- Any other refusal of a mutation is its typed result (InsufficientFunds, else Refusal),
  whose `code` is that slug; of a query (a bad cursor, `first` out of range), an error
  with code BAD_USER_INPUT.
- An unexpected error (ours, or the database's) is not a GraphQL error at all: the request
  fails as a REST request would (500 or 503 problem, or a retry of a conflicted
  transaction), unless an earlier mutation of the document has committed (schema.mutations).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import GraphQLError
from pydantic import ValidationError
from strawberry.extensions import SchemaExtension
from strawberry.utils.str_converters import to_camel_case

from schema.results import FieldProblem, InsufficientFunds, Refusal, StreamShortfall
from schema.scalars import Money
from service.domain.errors import DomainError, InvalidInput
from service.domain.pooling import InsufficientFunds as NotEnoughMoney
from service.errors import Described, Problem, describe, field_errors

ACCESS = frozenset({401, 403, 404})
_CODES = {400: "BAD_USER_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND"}
Refused = DomainError | Problem


def code_of(said: Described) -> str:
    """The GraphQL error code of a refusal, by its REST status."""
    if said.slug == "validation-error":
        return "BAD_USER_INPUT"
    return _CODES.get(said.status, "CONFLICT" if said.status == 409 else "UNPROCESSABLE")


def is_access(error: Refused) -> bool:
    """Whether a refusal is about who may reach or do what (an error, not a result)."""
    return describe(error).status in ACCESS


def _camel(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {to_camel_case(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def shown(error: GraphQLError) -> GraphQLError:
    """A resolver's refusal as the client sees it: its sentence and REST's facts."""
    original = error.original_error
    if not isinstance(original, DomainError | Problem):
        return error
    said = describe(original)
    extensions = {"code": code_of(said), "type": said.slug, **_camel(said.extensions)}
    return GraphQLError(
        said.detail,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


def unexpected(error: GraphQLError) -> BaseException | None:
    """The unexpected error behind a field's failure, if that is what it was."""
    original = error.original_error
    if error.path is None or original is None:
        return None  # parsing, validation, variables: the client's document
    if isinstance(original, DomainError | Problem | GraphQLError):
        return None
    return original


class RefusalsAsErrors(SchemaExtension):
    """Turn each refusal a resolver raised into its GraphQL error, after the operation."""

    def on_operation(self) -> Iterator[None]:
        """Rewrite the result's errors once everything has run."""
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shown(error) for error in result.errors]


def invalid_input(error: ValidationError) -> InvalidInput:
    """Pydantic's refusal of an input, with GraphQL's field names."""
    problems = [
        {
            "field": ".".join(to_camel_case(part) for part in p["field"].split(".")),
            "message": p["message"],
        }
        for p in field_errors(error.errors())
    ]
    return InvalidInput(
        "The input has fields that are missing or out of range: "
        + "; ".join(f"{p['field']}: {p['message']}" for p in problems),
        errors=problems,
    )


def refusal_result(error: Refused, *, funds: bool) -> InsufficientFunds | Refusal:
    """A mutation's typed answer to a refusal of the rules (InsufficientFunds if `funds`)."""
    if funds and isinstance(error, NotEnoughMoney):
        return InsufficientFunds(
            requested_amount=Money(error.requested),
            eligible_amount=Money(error.eligible_amount),
            message=error.detail,
            streams=[
                StreamShortfall(
                    available=Money(s.available), reason=s.reason, _stream_id=s.stream_id
                )
                for s in error.streams
            ],
        )
    said = describe(error)
    problems = error.errors if isinstance(error, InvalidInput) else []
    return Refusal(
        code=said.slug,
        message=said.detail,
        fields=[FieldProblem(field=p["field"], message=p["message"]) for p in problems],
    )
