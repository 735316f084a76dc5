"""The OAuth 2.0 token endpoint's logic: client credentials, on Authlib, without a framework.

Authlib ships server integrations for Flask and Django only, and its grant code is
synchronous. So the work is split in two:

1. The async endpoint (endpoints.py) reads the form body with a size cap, finds which
   client_id the request names (`client_id_of`), and loads that one OAuthClient row with
   the request's async session.
2. `issue_token_response` then runs Authlib synchronously over the parsed form and the
   pre-loaded row. Nothing in it blocks: one SHA-256 and one ES256 signature, well under
   a millisecond, so it runs on the event loop rather than in a thread.

The answers stay in RFC 6749 §5 form (`{"error", "error_description"}`), not RFC 9457
problems: that is what OAuth client libraries expect from a token endpoint. Every answer
carries `Cache-Control: no-store` and `Pragma: no-cache`.

Authlib behaviours this module corrects or relies on:
- `ClientCredentialsGrant` never compares the requested scope with the client's: it only
  checks the server-wide `scopes_supported`. The grant subclass below refuses scopes the
  client is not registered for with `invalid_scope`.
- Client authentication answers 400 for an unknown client sent in the form but 401 for
  one in the Basic header, and words "unknown client" differently from "wrong secret".
  Every `invalid_client` here is the same 401 with one message, so the endpoint does not
  tell an attacker which client ids exist.
- Authlib decodes the Basic header as strict UTF-8 without catching UnicodeDecodeError;
  `basic_credentials` checks the header first, so bad bytes give invalid_client, not 500.
- `OAuth2Request` refuses plain-http URLs except for loopback hosts (RFC 6749 §3.2 wants
  TLS), and raises outside Authlib's own error handling. We give it the token endpoint
  URL built from `settings.token_issuer`, and turn the refusal into an OAuth error.
"""

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InsecureTransportError,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from joserfc.jwk import ECKey

from service.auth.caller import SCOPES
from service.auth.models import OAuthClient
from service.auth.secrets import verify_secret
from service.auth.tokens import issue_access_token
from service.config import Settings

#: (HTTP status, JSON body, extra response headers)
TokenResponse = tuple[int, dict[str, Any], dict[str, str]]

GRANT_TYPE = "client_credentials"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
TOKEN_PATH = "/oauth/token"
# A real token request is ~150 bytes; a few KB leaves room for every scope and long ids.
MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 16
REALM = "onebudget"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CLIENT_AUTH_FAILED = (
    "Client authentication failed: unknown client_id or wrong client_secret. Send them "
    "with HTTP Basic (client_secret_basic) or in the form (client_secret_post)."
)
# Parameters named in error messages only when they are one of these, so no caller text
# (which may hold characters RFC 6749 forbids in error_description) is echoed back.
_KNOWN_PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})


class TokenRequestError(Exception):
    """A token request refused before Authlib runs, with its OAuth error code and status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> TokenResponse:
        """This refusal as a token endpoint answer."""
        return oauth_error_response(self.error, self.description, self.status)


def oauth_error_response(error: str, description: str, status: int = 400) -> TokenResponse:
    """An RFC 6749 §5.2 error answer; 401s carry the Basic challenge RFC 6749 asks for."""
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return status, {"error": error, "error_description": description}, headers


def endpoint_url(settings: Settings, path: str) -> str:
    """The absolute URL of `path` on this service, as clients reach it (from the issuer)."""
    return settings.token_issuer.rstrip("/") + path


def parse_token_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """The token request's form parameters; TokenRequestError if the body is not a sane form."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise TokenRequestError(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    if len(body) > MAX_FORM_BYTES:
        raise TokenRequestError(
            "invalid_request", f"The request body is larger than {MAX_FORM_BYTES} bytes."
        )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # includes UnicodeDecodeError and too many fields
        raise TokenRequestError(
            "invalid_request", "The form is not valid UTF-8 x-www-form-urlencoded data."
        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            # PostgreSQL text cannot hold NUL; refuse here rather than fail in the driver.
            raise TokenRequestError("invalid_request", "The form contains a NUL character.")
        if name in form:
            # RFC 6749 §3.2: parameters MUST NOT be included more than once.
            shown = f" {name}" if name in _KNOWN_PARAMETERS else ""
            raise TokenRequestError("invalid_request", f"A parameter{shown} is repeated.")
        form[name] = value
    return form


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic`, None without such a header.

    Decodes exactly as Authlib's client_secret_basic does (base64, UTF-8, then RFC 6749
    §2.3.1 percent-decoding), so the client loaded here is the one Authlib asks for.
    """
    authorization = _header(headers, "authorization")
    if not authorization or " " not in authorization.strip():
        return None
    scheme, credentials = authorization.strip().split(None, 1)
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenRequestError("invalid_client", _CLIENT_AUTH_FAILED, 401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise TokenRequestError("invalid_client", _CLIENT_AUTH_FAILED, 401)
    return unquote(client_id), unquote(secret)


def client_id_of(form: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The client_id the request authenticates as (Basic header, else form), if any."""
    basic = basic_credentials(headers)
    if basic is None:
        return form.get("client_id") or None
    basic_id = basic[0]
    if "client_secret" in form:
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        raise TokenRequestError(
            "invalid_request",
            "Authenticate one way only: the Authorization header or client_secret in the form.",
        )
    if form.get("client_id", basic_id) != basic_id:
        raise TokenRequestError(
            "invalid_request", "The form's client_id differs from the Authorization header's."
        )
    return basic_id


def issue_token_response(
    form: Mapping[str, str],
    headers: Mapping[str, str],
    client_row: OAuthClient | None,
    settings: Settings,
    key: ECKey,
    *,
    now: int | None = None,
) -> TokenResponse:
    """Answer a token request: a signed access token, or an RFC 6749 error.

    `client_row` is the OAuthClient the request names (see `client_id_of`), or None when
    there is no such client; `now` fixes the clock for tests.
    """
    try:
        # The endpoint has made these checks already; repeated so this function is safe
        # on its own (tests, other callers).
        client_id_of(form, headers)
        basic = basic_credentials(headers)
    except TokenRequestError as exc:
        return exc.response()
    if not form.get("grant_type"):
        return oauth_error_response("invalid_request", "Missing grant_type=client_credentials.")

    client = RegisteredClient(client_row, now=now) if client_row is not None else None
    server = TokenServer(client=client, settings=settings, key=key, now=now)
    request = PreparedTokenRequest(
        form=dict(form),
        # Authlib reads only Basic credentials from this header, and crashes on some odd
        # values (e.g. whitespace only); pass it on only once we know it is good Basic.
        authorization=_header(headers, "authorization") if basic is not None else None,
        uri=endpoint_url(settings, TOKEN_PATH),
    )
    try:
        response: TokenResponse = server.create_token_response(request)
    except InsecureTransportError:
        return oauth_error_response(
            "invalid_request",
            "The token endpoint is only served over HTTPS: set ONEBUDGET_ISSUER to the "
            "https:// URL clients use (plain http is allowed for loopback addresses only).",
        )
    return response


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Header `name`, looked up case-insensitively in any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True, slots=True)
class PreparedTokenRequest:
    """A token request already read off the wire: what Authlib needs, and nothing async."""

    form: dict[str, str]
    authorization: str | None
    uri: str


class _FormOAuth2Request(OAuth2Request):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's request object over a parsed form, for a framework Authlib does not know."""

    def __init__(self, prepared: PreparedTokenRequest) -> None:
        headers = {"Authorization": prepared.authorization} if prepared.authorization else {}
        super().__init__(method="POST", uri=prepared.uri, headers=headers)
        self.payload = BasicOAuth2Payload(prepared.form)
        self._form = prepared.form

    @property
    def args(self) -> dict[str, str]:
        """Query parameters: a token request takes none."""
        return {}

    @property
    def form(self) -> dict[str, str]:
        """The form body, read by Authlib's client_secret_post."""
        return self._form


class RegisteredClient(ClientMixin):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's view of one pre-loaded OAuthClient row: confidential, client credentials only."""

    def __init__(self, row: OAuthClient, *, now: int | None = None) -> None:
        self.row = row
        self.scopes = frozenset(row.scope.split())
        self._now = now

    def get_client_id(self) -> str:
        """The public client identifier."""
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        """No redirects: this client never uses the authorization endpoint."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client holds, or all of its scopes if none were asked."""
        if not scope or not scope.strip():
            return " ".join(s for s in SCOPES if s in self.scopes)
        requested = dict.fromkeys(scope.split())  # de-duplicated, request order kept
        return " ".join(s for s in requested if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """No redirect URI is ever valid for this client."""
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        """Whether the presented secret is this client's (constant-time): the current one,
        or the one it replaced while that rotation's grace period lasts. Never if revoked.
        """
        row = self.row
        if row.revoked_at is not None:
            return False
        if verify_secret(client_secret, row.secret_hash):
            return True
        if row.previous_secret_hash is None or row.previous_secret_expires_at is None:
            return False
        now = time.time() if self._now is None else self._now
        return now < row.previous_secret_expires_at.timestamp() and verify_secret(
            client_secret, row.previous_secret_hash
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Only client_secret_basic and client_secret_post, and only at the token endpoint."""
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        """No response types: there is no authorization endpoint."""
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        """Client credentials is the only grant these clients use."""
        return grant_type == GRANT_TYPE


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]  # Authlib is untyped
    """Client credentials, with both secret methods and the client's scope enforced."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        """Refuse unknown scopes (Authlib's check) and scopes the client lacks (ours)."""
        super().validate_requested_scope()
        client: RegisteredClient = self.request.client
        requested = (self.request.payload.scope or "").split()
        # All requested names are in SCOPES by now, so naming them is safe ASCII.
        missing = sorted(set(requested) - client.scopes)
        if missing:
            raise InvalidScopeError(
                f"This client is not registered for the scope(s): {' '.join(missing)}."
            )


class TokenServer(AuthorizationServer):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's authorization server for one token request, with its client pre-loaded.

    One instance per request: the client it can find is the one the endpoint loaded, so
    Authlib's synchronous `query_client` needs no database.
    """

    def __init__(
        self,
        *,
        client: RegisteredClient | None,
        settings: Settings,
        key: ECKey,
        now: int | None = None,
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self._client = client
        self._settings = settings
        self._key = key
        self._now = now
        self.register_grant(_ClientCredentialsGrant)
        self.register_token_generator(GRANT_TYPE, self._generate_token)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        """The pre-loaded client if it is the one asked for; None otherwise."""
        if self._client is not None and self._client.get_client_id() == client_id:
            return self._client
        return None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to store: access tokens are self-contained signed JWTs."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signal hook; no one listens."""

    def create_oauth2_request(self, request: PreparedTokenRequest) -> OAuth2Request:
        """Authlib's request object for a prepared token request."""
        return _FormOAuth2Request(request)

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenResponse:
        """Return the answer as plain data; the endpoint renders it as JSON."""
        # Content-Type is the renderer's business; keep no-store/no-cache and challenges.
        extra = {name: value for name, value in headers if name.lower() != "content-type"}
        return status, dict(body), {**_NO_STORE, **extra}

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> TokenResponse:
        """Render an OAuth error, with one uniform answer for every client-auth failure."""
        if isinstance(error, InvalidClientError):
            return oauth_error_response("invalid_client", _CLIENT_AUTH_FAILED, 401)
        if isinstance(error, UnsupportedGrantTypeError):
            # Authlib's own body has no description here.
            return oauth_error_response(
                "unsupported_grant_type", f"Only grant_type={GRANT_TYPE} is supported."
            )
        status, body, headers = error(self.get_error_uri(request, error))
        return self.handle_response(status, body, headers)

    def _generate_token(
        self,
        grant_type: str,
        client: RegisteredClient,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        """The token answer: a signed RFC 9068 JWT and what it grants (no refresh token)."""
        granted = client.get_allowed_scope(scope)
        if not granted:
            raise InvalidScopeError("This client has no scopes registered.")
        lifetime = self._settings.token_lifetime_seconds
        access_token = issue_access_token(
            key=self._key,
            issuer=self._settings.token_issuer,
            audience=self._settings.audience,
            client=client.row,
            scope=granted,
            lifetime_seconds=lifetime,
            now=self._now,
        )
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": granted,
        }
