"""Client identifiers and secrets: how they are made, stored and checked.

A client secret is 32 bytes from the operating system's CSPRNG (256 bits). We store
`sha256$<hex digest>` and compare digests in constant time. A slow password hash
(bcrypt, scrypt, Argon2) exists to make guessing a *low-entropy* human password from a
stolen hash expensive; nobody can enumerate 2**256 secrets however fast the hash is, so
the slow hash would add no protection here and would cost tens of milliseconds of CPU on
every token request, which is itself a denial-of-service lever.
"""

import hashlib
import hmac
import secrets

_CLIENT_ID_PREFIX = "ob_"
_HASH_SCHEME = "sha256$"


def new_client_id() -> str:
    """A fresh public client identifier, e.g. `ob_3q2N...` (fits the 64-char column)."""
    # 16 random bytes: unguessable enough that ids leak nothing about how many clients exist.
    return _CLIENT_ID_PREFIX + secrets.token_urlsafe(16)


def new_client_secret() -> str:
    """A fresh client secret: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: `sha256$` followed by the hex SHA-256 of its UTF-8 bytes."""
    return _HASH_SCHEME + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def verify_secret(secret: str, hashed: str) -> bool:
    """Whether `secret` matches the stored `hashed` value, compared in constant time."""
    if not hashed.startswith(_HASH_SCHEME):
        # An unknown scheme never matches: better a refused client than a bypass.
        return False
    try:
        candidate = secret.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from a percent-decoded Basic header) cannot be our secret.
        return False
    digest = hashlib.sha256(candidate).hexdigest().encode("ascii")
    # Compared as bytes: compare_digest refuses non-ASCII str with TypeError, and a corrupt
    # stored value must give False, not an exception.
    return hmac.compare_digest(digest, hashed[len(_HASH_SCHEME) :].encode("utf-8"))
