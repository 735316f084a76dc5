"""Every error a client sees is an RFC 9457 problem, rendered here and nowhere else.

Domain errors (service.domain) carry no HTTP meaning; PROBLEM_TYPES gives each its status
and type. Errors raised at the API edge subclass `Problem` and carry their own.
"""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.domain.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://onebudget.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; some problems add fields (errors, eligible_amount, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


def _problem_response_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": ProblemDocument,
        "content": {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}
        },
    }


# Answers any /v1 operation may give; each route adds its own refusals.
COMMON_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem_response_doc("Bad request (e.g. a missing Idempotency-Key or a bad cursor)"),
    401: _problem_response_doc("Missing, expired or invalid access token"),
    403: _problem_response_doc("The token lacks a scope, or the agency may not do this"),
    404: _problem_response_doc("Not found, or outside your agency's reach"),
    409: _problem_response_doc("Conflicts with the current state, or the same key is in flight"),
    412: _problem_response_doc("If-Match does not name the current version"),
    413: _problem_response_doc("Body over 1 MiB"),
    415: _problem_response_doc("Body is not JSON"),
    422: _problem_response_doc("Invalid payload, or refused by a funding rule"),
    428: _problem_response_doc("If-Match required"),
}


class Problem(Exception):
    """An error with its HTTP meaning: status, a type slug, a title and a detail for people."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = dict(extensions or {})
        self.headers = dict(headers or {})


class NotFound(Problem):
    """Missing, or outside the caller's reach: the two must look the same."""

    status, slug, title = 404, "not-found", "Not found"


class Unauthenticated(Problem):
    """No usable access token."""

    status, slug, title = 401, "unauthenticated", "Unauthenticated"


class MissingScope(Problem):
    """The token lacks the scope the operation needs."""

    status, slug, title = 403, "insufficient-scope", "Insufficient scope"


class Conflict(Problem):
    """The request clashes with the resource's current state."""

    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    """If-Match named a version that is no longer current."""

    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(Problem):
    """An update came without If-Match."""

    status, slug, title = 428, "precondition-required", "Precondition required"


class Unprocessable(Problem):
    """The payload is well formed but cannot be accepted."""

    status, slug, title = 422, "unprocessable", "Unprocessable request"


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem document."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **(extensions or {}),
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


Extensions = Callable[[Any], Mapping[str, Any]]


def _no_extensions(error: DomainError) -> Mapping[str, Any]:
    return {}


# Domain refusal -> (status, type slug, title, extra fields). Each feature registers its
# own errors with `register_domain_error`, so this module imports no feature.
_DOMAIN_PROBLEMS: dict[type, tuple[int, str, str, Extensions]] = {}


def register_domain_error(
    error: type[DomainError],
    status: int,
    slug: str,
    title: str,
    extensions: Extensions = _no_extensions,
) -> None:
    """Give a domain error its HTTP meaning and, optionally, the extra fields it carries."""
    _DOMAIN_PROBLEMS[error] = (status, slug, title, extensions)


def _domain_meaning(error: DomainError) -> tuple[int, str, str, Extensions]:
    for cls in type(error).__mro__:
        if cls in _DOMAIN_PROBLEMS:
            return _DOMAIN_PROBLEMS[cls]
    return 422, "rule-refused", "Refused by the rules", _no_extensions


# Pydantic's error types for "not an integer"; on a money field the message says pence.
_NOT_AN_INTEGER = frozenset({"int_type", "int_parsing", "int_from_float"})


def _is_money(location: list[str]) -> bool:
    return bool(location) and (location[-1] == "amount" or location[-1].endswith("_amount"))


def _message(error: Mapping[str, Any], location: list[str]) -> str:
    if error.get("type") in _NOT_AN_INTEGER and _is_money(location):
        return (
            f"{location[-1]} must be a whole number of pence (minor units) sent as a JSON"
            " integer, e.g. 6050 for £60.50"
        )
    return str(error.get("msg", ""))


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """One entry per bad field, with a JSON-pointer-like location and a message."""
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        errors.append({"field": ".".join(location), "message": _message(error, location)})
    return errors


def server_error_response() -> JSONResponse:
    """The 500 problem for an unexpected error: it says nothing of the error itself."""
    return problem_response(
        status=500,
        slug="server-error",
        title="Server error",
        detail="Something went wrong on our side; nothing was changed. Try again later.",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to one problem renderer."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            extensions=exc.extensions,
            headers=exc.headers,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status, slug, title, extensions = _domain_meaning(exc)
        return problem_response(
            status=status, slug=slug, title=title, detail=exc.detail, extensions=extensions(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            status=422,
            slug="validation-error",
            title="Invalid request",
            detail="The request has fields that are missing, unknown or out of range.",
            extensions={"errors": _validation_errors(exc)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            status=exc.status_code,
            slug="http-" + str(exc.status_code),
            title=str(exc.detail) if exc.status_code < 500 else "Server error",
            detail=str(exc.detail),
            headers=exc.headers,
        )

    # Unexpected errors are not handled here: Starlette's handler for Exception answers and
    # then re-raises, which makes the server drop the keep-alive connection. The app's
    # ErrorBoundary middleware (service.ops.boundary) answers with server_error_response(),
    # logs once without SQL parameters, and does not re-raise.
