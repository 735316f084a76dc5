"""Access tokens: RFC 9068 JWTs signed with the service's ES256 key, and their verification.

What joserfc does *not* do for us, and this module therefore does (see SECURITY.md):
- `jwt.decode` checks only the signature. The claims (`iss`, `aud`, `exp`, `nbf`, `iat`)
  are checked here with a `JWTClaimsRegistry`.
- joserfc accepts any JWT whatever its `typ`; RFC 9068 access tokens carry
  `typ: at+jwt`, and we refuse anything else so that no other kind of JWT signed by a
  key we trust can be replayed as an access token.
- Given a single key, joserfc ignores the header's `kid`; we require it to name our key,
  so a token made for another key fails with a clear reason, and rotation stays possible.
- Only ES256 is allowed, so `none` and HS256-with-the-public-key confusion are refused.
- joserfc accepts both (r, s) and its twin (r, n - s); we sign low-S and refuse high-S
  (ecdsa.py), so a token cannot be re-signed into a second valid string.

Every failure becomes `InvalidToken` with a short reason meant for the caller (it ends up
in a 401's `WWW-Authenticate`), never any other exception.
"""

import time
import uuid
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExceededSizeError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import ECKey
from joserfc.util import urlsafe_b64decode, urlsafe_b64encode

from service.auth.caller import Caller
from service.auth.ecdsa import is_low_s, to_low_s

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
# RFC 9068 §2.1: "at+jwt"; RFC 8725 §3.11 allows the full media type too. Compared
# case-insensitively, as media types are.
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Clock skew allowed between this service's processes and hosts. joserfc applies the one
# leeway to exp as well as to nbf and iat.
LEEWAY_SECONDS = 30
# Our tokens are well under 1 KB; anything much larger is not one of ours, and is
# refused before any parsing work.
MAX_TOKEN_CHARS = 4096

_CLAIM_REASONS = {
    "iss": "it was issued by another issuer",
    "aud": "it is meant for another audience",
    "nbf": "it is not valid yet",
    "iat": "it was issued in the future",
    "exp": "its expiry time is malformed",
}


class InvalidToken(Exception):
    """An access token was refused; str(exc) is a short reason safe to show the caller."""


class TokenSubject(Protocol):
    """What a token is issued for: an OAuth client row, or anything shaped like one."""

    @property
    def id(self) -> uuid.UUID:
        """The client's primary key (oauth_client.id)."""
        ...

    @property
    def client_id(self) -> str:
        """The public client identifier."""
        ...

    @property
    def agency_id(self) -> uuid.UUID:
        """The agency the client acts for."""
        ...


def key_id(key: ECKey) -> str:
    """The `kid` tokens signed with `key` carry: the key's own, else its RFC 7638 thumbprint."""
    return key.kid or key.thumbprint()


def issue_access_token(
    *,
    key: ECKey,
    issuer: str,
    audience: str,
    client: TokenSubject,
    scope: str,
    lifetime_seconds: int,
    now: int | None = None,
) -> str:
    """Sign an RFC 9068 access token for `client` with `scope`, valid for lifetime_seconds."""
    issued_at = int(time.time()) if now is None else now
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key_id(key)}
    claims: dict[str, Any] = {
        "iss": issuer,
        # RFC 9068 §2.2: with client credentials there is no resource owner, so the
        # subject is the client itself.
        "sub": client.client_id,
        "aud": audience,
        "exp": issued_at + lifetime_seconds,
        "iat": issued_at,
        "nbf": issued_at,
        "jti": uuid.uuid4().hex,
        "client_id": client.client_id,
        "scope": scope,
        "agency_id": str(client.agency_id),
        # The row's primary key, so the caller is known without a lookup by client_id.
        "cid": str(client.id),
    }
    token = jwt.encode(header, claims, key, algorithms=[ALGORITHM])
    signing_input, _, signature = token.rpartition(".")
    low = to_low_s(urlsafe_b64decode(signature.encode("ascii")))
    return f"{signing_input}.{urlsafe_b64encode(low).decode('ascii')}"


def verify_access_token(
    token: str, *, key: ECKey, issuer: str, audience: str, now: int | None = None
) -> Caller:
    """The Caller a valid access token stands for; InvalidToken with a reason otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("it is not a well-formed JWT")
    header, claims = _decode(token, key)
    _check_low_s(token)
    _check_header(header, key)
    _check_claims(claims, issuer=issuer, audience=audience, now=now)
    return _caller(claims)


def _decode(token: str, key: ECKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse the JWS and check its signature with `key`, allowing ES256 only."""
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except BadSignatureError:
        raise InvalidToken("its signature does not verify") from None
    except UnsupportedAlgorithmError:
        raise InvalidToken(f"it is not signed with {ALGORITHM}") from None
    except ExceededSizeError:
        raise InvalidToken("it is too large") from None
    except JoseError:
        raise InvalidToken("it is not a well-formed JWT") from None
    except Exception:
        # Hostile input reaches parser paths that raise plain ValueError, TypeError,
        # UnicodeError or AttributeError (e.g. a header that is JSON but not an object).
        # A malformed token is the caller's problem: a 401, never a 500.
        raise InvalidToken("it is not a well-formed JWT") from None
    return dict(decoded.header), dict(decoded.claims)


def _check_low_s(token: str) -> None:
    """Refuse the high-S twin of a valid signature (joserfc has already verified it)."""
    # Decoded with joserfc's own strict base64url, so these are the very bytes it verified.
    try:
        signature = urlsafe_b64decode(token.rpartition(".")[2].encode("ascii"))
    except ValueError:  # cannot have passed _decode; refused all the same, never a 500
        raise InvalidToken("it is not a well-formed JWT") from None
    if not is_low_s(signature):
        raise InvalidToken("its signature is not in canonical low-S form")


def _check_header(header: dict[str, Any], key: ECKey) -> None:
    """Require an access-token `typ` and the `kid` of our key."""
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        raise InvalidToken(f"it is not an access token (typ must be {TOKEN_TYPE})")
    if header.get("kid") != key_id(key):
        raise InvalidToken("it names a signing key this service does not use")


def _check_claims(claims: dict[str, Any], *, issuer: str, audience: str, now: int | None) -> None:
    """Check the registered claims (iss, aud, exp, nbf, iat) and the presence of ours."""
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
        client_id={"essential": True},
        scope={"essential": True},
        agency_id={"essential": True},
        cid={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidToken("it has expired") from None
    except MissingClaimError as exc:
        # exc.claim lists names from our own registry, never text from the token.
        raise InvalidToken(f"it lacks the claim(s) {exc.claim}") from None
    except InvalidClaimError as exc:
        reason = _CLAIM_REASONS.get(exc.claim, f"its {exc.claim} claim is malformed")
        raise InvalidToken(reason) from None
    except Exception:
        # Same as in _decode: odd claim values must not escape as anything but a refusal.
        raise InvalidToken("its claims are malformed") from None


def _caller(claims: dict[str, Any]) -> Caller:
    """Build the Caller from checked claims, refusing ill-typed values."""
    client_id = claims["client_id"]
    scope = claims["scope"]
    if not isinstance(client_id, str) or claims["sub"] != client_id:
        raise InvalidToken("its client_id claim is malformed")
    if not isinstance(scope, str):
        raise InvalidToken("its scope claim is malformed")
    return Caller(
        client_pk=_uuid_claim(claims, "cid"),
        client_id=client_id,
        agency_id=_uuid_claim(claims, "agency_id"),
        scopes=frozenset(scope.split()),
        expires_at=int(claims["exp"]),
    )


def _uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    """The claim `name` as a UUID; InvalidToken if it is not a UUID string."""
    value = claims[name]
    if not isinstance(value, str):
        raise InvalidToken(f"its {name} claim is malformed")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidToken(f"its {name} claim is malformed") from None
