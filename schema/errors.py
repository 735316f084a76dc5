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
  A subscription has no request to fail: its error is logged and answered with the code of
  `failure_code` (INTERNAL_SERVER_ERROR, DATABASE_UNAVAILABLE, BUSY).
- An error about the document has a code too: GRAPHQL_PARSE_FAILED,
  GRAPHQL_VALIDATION_FAILED, or BAD_USER_INPUT for variables that do not fit their types
  (and the limits', schema.limits).
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
from service.ops.boundary import log_unexpected
from service.ops.retry import is_retryable
from service.ops.unavailable import is_database_unavailable

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


def failure_code(error: BaseException) -> tuple[str, str]:
    """The code and REST slug of a failure on our side, by what it was."""
    if is_retryable(error):
        return "BUSY", "busy"
    if is_database_unavailable(error):
        return "DATABASE_UNAVAILABLE", "database-unavailable"
    return "INTERNAL_SERVER_ERROR", "server-error"


def subscription_failure(
    error: BaseException, *, located: GraphQLError | None = None
) -> GraphQLError:
    """A subscription's failure on our side, logged, as its subscriber sees it (where
    `located` was, if anywhere): it has no request to fail, as a query would."""
    log_unexpected("subscription failed", error)
    code, slug = failure_code(error)
    return GraphQLError(
        "Something went wrong on our side: subscribe again.",
        located.nodes if located else None,
        path=located.path if located else None,
        extensions={"code": code, "type": slug},
    )


def streamed(error: GraphQLError) -> GraphQLError:
    """An error of one result of a subscription, as its subscriber sees it."""
    original = unexpected(error)
    return shown(error) if original is None else subscription_failure(original, located=error)


def _coded(errors: list[GraphQLError] | None, code: str) -> None:
    """Give each error without a code this one (in place: the result holds the same errors)."""
    for error in errors or ():
        if "code" not in (error.extensions or {}):
            error.extensions = {**(error.extensions or {}), "code": code}


def _variables(errors: list[GraphQLError]) -> None:
    """Errors left with neither a code nor a path are the variables', refused before any
    resolver ran (a resolver's error has a path; parse and validation errors have a code)."""
    _coded([error for error in errors if error.path is None], "BAD_USER_INPUT")


class CodedErrors(SchemaExtension):
    """Every error with a code: a refusal a resolver raised becomes its GraphQL error (after
    the operation, or before each result of a subscription is sent), and an error about the
    document says which: GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, or BAD_USER_INPUT
    for variables that do not fit their types."""

    def on_parse(self) -> Iterator[None]:
        """A document that does not parse."""
        yield
        _coded(self.execution_context.pre_execution_errors, "GRAPHQL_PARSE_FAILED")

    def on_validate(self) -> Iterator[None]:
        """A document that does not fit the schema."""
        yield
        _coded(self.execution_context.pre_execution_errors, "GRAPHQL_VALIDATION_FAILED")

    def on_operation(self) -> Iterator[None]:
        """Rewrite the result's errors once everything has run."""
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shown(error) for error in result.errors]
            _variables(result.errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Rewrite the errors of one result of a subscription."""
        if result.errors:
            result.errors = [streamed(error) for error in result.errors]
            _variables(result.errors)
        yield


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
