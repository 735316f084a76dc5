"""Access endpoints: the OAuth 2.0 token endpoint and the metadata clients discover it by.

`POST /oauth/token` answers in RFC 6749 form, not RFC 9457 problems: OAuth client
libraries parse `{"error", "error_description"}` from a token endpoint. The logic lives
in oauth_server.py; this module only does the async parts (read the body with a cap,
load the client row) and renders the answer.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from joserfc.jwk import ECKey
from pydantic import BaseModel, Field

from service.auth.caller import SCOPES
from service.auth.keys import public_jwks
from service.auth.oauth_server import (
    AUTH_METHODS,
    GRANT_TYPE,
    MAX_FORM_BYTES,
    TOKEN_PATH,
    TokenRequestError,
    client_id_of,
    endpoint_url,
    issue_token_response,
    parse_token_form,
)
from service.auth.service import find_client
from service.config import Settings
from service.database import SessionDep

router = APIRouter(tags=["access"])

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
# Keys change rarely but must be able to rotate: let clients cache for five minutes.
_DISCOVERY_CACHE = "public, max-age=300"


class TokenAnswer(BaseModel):
    """A successful token answer (RFC 6749 §5.1)."""

    access_token: str = Field(description="A signed JWT (RFC 9068); send it as a Bearer token.")
    token_type: str = Field(description='Always "Bearer".', examples=["Bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[600])
    scope: str = Field(description="The scopes granted, space-separated.")


class OAuthErrorAnswer(BaseModel):
    """A token endpoint error (RFC 6749 §5.2)."""

    error: str = Field(
        description="invalid_request, invalid_client, invalid_scope, unsupported_grant_type…",
        examples=["invalid_client"],
    )
    error_description: str | None = Field(default=None, description="What went wrong.")


class AuthorizationServerMetadata(BaseModel):
    """Authorization server metadata (RFC 8414)."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    response_types_supported: list[str]


class PublicJWK(BaseModel):
    """One public signing key (RFC 7517), EC P-256 for ES256."""

    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str


class JWKSet(BaseModel):
    """The keys that sign this service's access tokens."""

    keys: list[PublicJWK]


_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": [GRANT_TYPE]},
        "scope": {
            "type": "string",
            "description": "Space-separated scopes; left out, all of the client's scopes.",
            "examples": ["budgets:read spends:write"],
        },
        "client_id": {
            "type": "string",
            "description": "For client_secret_post only (else use HTTP Basic).",
        },
        "client_secret": {
            "type": "string",
            "description": "For client_secret_post only (else use HTTP Basic).",
        },
    },
}

_OAUTH_ERROR = {"model": OAuthErrorAnswer}


@router.post(
    TOKEN_PATH,
    summary="Get an access token (OAuth 2.0 client credentials)",
    response_class=JSONResponse,
    responses={
        200: {"model": TokenAnswer, "description": "An access token."},
        400: {
            **_OAUTH_ERROR,
            "description": "A malformed request, an unsupported grant_type, or a scope the "
            "client does not hold (invalid_scope).",
        },
        401: {
            **_OAUTH_ERROR,
            "description": "Client authentication failed (invalid_client).",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _TOKEN_FORM_SCHEMA}},
        }
    },
)
async def issue_token(request: Request, session: SessionDep) -> JSONResponse:
    """Exchange client credentials for an access token (RFC 6749 §4.4).

    Authenticate with HTTP Basic (`client_id:client_secret`, each form-urlencoded) or
    with `client_id` and `client_secret` in the form, not both. Send
    `grant_type=client_credentials` and optionally `scope`; without `scope` the token
    carries every scope the client is registered for, and asking for one it does not
    hold answers `invalid_scope`. The token is an RFC 9068 JWT signed with ES256, valid
    for `expires_in` seconds; there is no refresh token: ask for a new one. Errors use
    the OAuth 2.0 form `{"error", "error_description"}`.
    """
    settings: Settings = request.app.state.settings
    key: ECKey = request.app.state.signing_key
    try:
        body = await _read_capped(request, MAX_FORM_BYTES)
        form = parse_token_form(body, request.headers.get("content-type"))
        client_id = client_id_of(form, request.headers)
    except TokenRequestError as exc:
        return _render(*exc.response())
    client_row = await find_client(session, client_id) if client_id else None
    return _render(*issue_token_response(form, request.headers, client_row, settings, key))


@router.get(
    METADATA_PATH,
    summary="Authorization server metadata (RFC 8414)",
    response_model=AuthorizationServerMetadata,
)
async def authorization_server_metadata(
    request: Request, response: Response
) -> AuthorizationServerMetadata:
    """Where to get tokens and how: token endpoint, signing keys, grants and scopes."""
    settings: Settings = request.app.state.settings
    response.headers["Cache-Control"] = _DISCOVERY_CACHE
    return AuthorizationServerMetadata(
        issuer=settings.token_issuer,
        token_endpoint=endpoint_url(settings, TOKEN_PATH),
        jwks_uri=endpoint_url(settings, JWKS_PATH),
        grant_types_supported=[GRANT_TYPE],
        token_endpoint_auth_methods_supported=list(AUTH_METHODS),
        scopes_supported=list(SCOPES),
        # No authorization endpoint, so no response types (the member is REQUIRED).
        response_types_supported=[],
    )


@router.get(JWKS_PATH, summary="Token signing keys (JWK Set)", response_model=JWKSet)
async def signing_keys(request: Request, response: Response) -> JWKSet:
    """The public keys that verify this service's access tokens, matched by `kid`."""
    response.headers["Cache-Control"] = _DISCOVERY_CACHE
    return JWKSet.model_validate(public_jwks(request.app.state.signing_key))


async def _read_capped(request: Request, limit: int) -> bytes:
    """The request body, but never more than limit + 1 bytes (enough to tell it is too big)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            # Stop reading: a token request has no business being this large.
            break
    return bytes(body[: limit + 1])


def _render(status: int, body: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    """A token endpoint answer as JSON."""
    return JSONResponse(body, status_code=status, headers=headers)
