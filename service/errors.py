"""Every error a client sees is an RFC 9457 problem, rendered here and nowhere else.

Domain errors carry no HTTP meaning; PROBLEMS gives each its status, type and extra fields,
in one table. Errors of the HTTP edge itself subclass `Problem` and carry their own.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.allocations.errors import AllocationWithdrawn, AlreadyConfirmed, NoChange, OverCap
from service.auth.service import AccessRevoked
from service.domain.errors import (
    BadCursor,
    DomainError,
    ForbiddenRole,
    InvalidInput,
    MissingScope,
    NotFound,
    StaleVersion,
    VersionRequired,
)
from service.domain.pooling import InsufficientFunds, InvalidSplit
from service.idempotency.store import KeyInFlight, KeyReused
from service.ledger.repository import Overdrawn, PendingAlreadyResolved
from service.spends.errors import (
    CommitmentExpired,
    ExpiryInPast,
    NotAwaitingApproval,
    NotAwaitingYou,
    NotHeld,
    NotPosted,
    OutsidePeriod,
    OverPosting,
    StillAwaitingApproval,
)
from service.versions import etag
from service.webhooks.errors import UnsafeWebhookUrl

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
    """An error of the HTTP edge itself (no token, no If-Match, no Idempotency-Key)."""

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


class Unauthenticated(Problem):
    """No usable access token."""

    status, slug, title = 401, "unauthenticated", "Unauthenticated"


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


def bearer_challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    """The WWW-Authenticate header of a 401 or an insufficient-scope 403 (RFC 6750)."""
    value = 'Bearer realm="onebudget"'
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}


@dataclass(frozen=True, slots=True)
class ProblemSpec:
    """How REST shows one domain refusal: status, type slug, title, extra fields, headers."""

    status: int
    slug: str
    title: str
    extensions: Callable[[Any], Mapping[str, Any]] = lambda error: {}
    headers: Callable[[Any], Mapping[str, str]] = lambda error: {}


def _funds_extensions(error: InsufficientFunds) -> Mapping[str, Any]:
    return {
        "requested_amount": error.requested,
        "eligible_amount": error.eligible_amount,
        "streams": [
            {"stream_id": str(s.stream_id), "available": s.available, "reason": s.reason}
            for s in error.streams
        ],
    }


# Every domain refusal and its problem, in one table. A class not listed falls back to its
# nearest listed base. GraphQL (schema/errors.py) answers the same classes from this table:
# the slug is its refusal code, the status decides its error code.
PROBLEMS: dict[type[DomainError], ProblemSpec] = {
    NotFound: ProblemSpec(404, "not-found", "Not found"),
    MissingScope: ProblemSpec(
        403,
        "insufficient-scope",
        "Insufficient scope",
        lambda e: {"required_scope": e.scope},
        lambda e: bearer_challenge("insufficient_scope", f"needs {e.scope}"),
    ),
    ForbiddenRole: ProblemSpec(
        403, "forbidden-role", "Your role does not allow this", lambda e: {"allowed": e.allowed}
    ),
    StaleVersion: ProblemSpec(
        412,
        "precondition-failed",
        "Precondition failed",
        lambda e: {"current_etag": etag(e.object_id, e.current_version)},
    ),
    VersionRequired: ProblemSpec(428, "precondition-required", "Precondition required"),
    BadCursor: ProblemSpec(400, "bad-cursor", "Bad cursor"),
    InvalidInput: ProblemSpec(
        422, "validation-error", "Invalid request", lambda e: {"errors": e.errors}
    ),
    AccessRevoked: ProblemSpec(
        401,
        "unauthenticated",
        "Unauthenticated",
        headers=lambda e: bearer_challenge("invalid_token", "its client has been revoked"),
    ),
    KeyInFlight: ProblemSpec(409, "conflict", "Conflict", headers=lambda e: {"Retry-After": "1"}),
    KeyReused: ProblemSpec(422, "unprocessable", "Idempotency-Key reused"),
    InsufficientFunds: ProblemSpec(
        422, "insufficient-funds", "Not enough eligible money", _funds_extensions
    ),
    InvalidSplit: ProblemSpec(
        422,
        "invalid-split",
        "The chosen split cannot be used",
        lambda e: {"problems": list(e.problems)},
    ),
    OverCap: ProblemSpec(
        422,
        "over-cap",
        "Over the stream's cap",
        lambda e: {"cap_amount": e.cap_amount, "allocated": e.allocated},
    ),
    AlreadyConfirmed: ProblemSpec(409, "already-confirmed", "Already confirmed"),
    AllocationWithdrawn: ProblemSpec(409, "wrong-state", "Withdrawn"),
    NoChange: ProblemSpec(409, "no-change", "No change"),
    OutsidePeriod: ProblemSpec(422, "outside-period", "Outside the budget's period"),
    ExpiryInPast: ProblemSpec(422, "expiry-in-past", "Expiry in the past"),
    NotAwaitingApproval: ProblemSpec(409, "wrong-state", "Not awaiting approval"),
    NotAwaitingYou: ProblemSpec(403, "not-awaiting-you", "Not awaiting your approval"),
    NotPosted: ProblemSpec(409, "wrong-state", "Not posted"),
    NotHeld: ProblemSpec(409, "wrong-state", "No longer held"),
    StillAwaitingApproval: ProblemSpec(409, "wrong-state", "Still awaiting approval"),
    CommitmentExpired: ProblemSpec(409, "wrong-state", "Expired"),
    OverPosting: ProblemSpec(
        422, "over-posting", "More than is held", lambda e: {"held_amount": e.held_amount}
    ),
    Overdrawn: ProblemSpec(409, "overdrawn", "The money is no longer there"),
    PendingAlreadyResolved: ProblemSpec(409, "already-resolved", "Already resolved"),
    UnsafeWebhookUrl: ProblemSpec(422, "unsafe-webhook-url", "Webhook URL refused"),
}
FALLBACK = ProblemSpec(422, "rule-refused", "Refused by the rules")


def problem_spec(error: DomainError) -> ProblemSpec:
    """The problem for a domain refusal: its own class's, or its nearest listed base's."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return FALLBACK


@dataclass(frozen=True, slots=True)
class Described:
    """A refusal as every API edge shows it: status, type slug, title, sentence, extra fields."""

    status: int
    slug: str
    title: str
    detail: str
    extensions: Mapping[str, Any]
    headers: Mapping[str, str]


def describe(error: "DomainError | Problem") -> Described:
    """What a domain refusal or an edge problem says, from the one table above."""
    if isinstance(error, Problem):
        return Described(
            error.status, error.slug, error.title, error.detail, error.extensions, error.headers
        )
    spec = problem_spec(error)
    return Described(
        spec.status,
        spec.slug,
        spec.title,
        error.detail,
        spec.extensions(error),
        spec.headers(error),
    )


# Pydantic's error types for "not an integer"; on a money field the message says pence.
_NOT_AN_INTEGER = frozenset({"int_type", "int_parsing", "int_from_float"})


def _is_money(location: list[str]) -> bool:
    return bool(location) and (location[-1] == "amount" or location[-1].endswith("_amount"))


def _message(error: Mapping[str, Any], location: list[str], *, patch: bool) -> str:
    if "input" in error and error["input"] is None and error.get("type") != "missing":
        keep = ": leave the field out to keep its current value" if patch else ""
        return f"must not be null{keep}"
    if error.get("type") in _NOT_AN_INTEGER and _is_money(location):
        return (
            f"{location[-1]} must be a whole number of pence (minor units) sent as a JSON"
            " integer, e.g. 6050 for £60.50"
        )
    return str(error.get("msg", ""))


def field_errors(
    errors: Iterable[Mapping[str, Any]], *, patch: bool = False
) -> list[dict[str, str]]:
    """One entry per bad field of pydantic's errors, with a dotted location and a message."""
    found = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = _message(error, location, patch=patch)
        found.append({"field": ".".join(location), "message": message})
    return found


def server_error_response() -> JSONResponse:
    """The 500 problem for an unexpected error: it says nothing of the error itself."""
    return problem_response(
        status=500,
        slug="server-error",
        title="Server error",
        detail="Something went wrong on our side; nothing was changed. Try again later.",
    )


def database_unavailable_response() -> JSONResponse:
    """The 503 problem for a database that did not answer (service.ops.unavailable)."""
    return problem_response(
        status=503,
        slug="database-unavailable",
        title="Database unavailable",
        detail="The database did not answer, so this request may or may not have been carried"
        " out. Retry it with the same Idempotency-Key: it is carried out at most once.",
        headers={"Retry-After": "1"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to one problem renderer."""

    @app.exception_handler(Problem)
    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError | Problem)
        said = describe(exc)
        return problem_response(
            status=said.status,
            slug=said.slug,
            title=said.title,
            detail=said.detail,
            extensions=said.extensions,
            headers=said.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            status=422,
            slug="validation-error",
            title="Invalid request",
            detail="The request has fields that are missing, unknown or out of range.",
            extensions={"errors": field_errors(exc.errors(), patch=request.method == "PATCH")},
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
