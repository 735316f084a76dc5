"""Access tokens, signing keys and client secrets: pure tests, no database."""

import base64
import hashlib
import hmac
import json
import os
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from service.auth.caller import Caller
from service.auth.ecdsa import P256_ORDER, is_low_s, to_low_s
from service.auth.keys import (
    KEY_FILE_NAME,
    SigningKeyError,
    load_or_create_signing_key,
    public_jwks,
)
from service.auth.secrets import hash_secret, new_client_id, new_client_secret, verify_secret
from service.auth.tokens import (
    LEEWAY_SECONDS,
    InvalidToken,
    issue_access_token,
    key_id,
    verify_access_token,
)

ISSUER = "https://onebudget.test"
AUDIENCE = "onebudget"
LIFETIME = 600


@dataclass(frozen=True)
class FakeClient:
    """Shaped like an OAuthClient row, as far as tokens care."""

    id: uuid.UUID
    client_id: str
    agency_id: uuid.UUID


CLIENT = FakeClient(id=uuid.uuid4(), client_id="ob_example", agency_id=uuid.uuid4())
_KEY = ECKey.generate_key("P-256", private=True)


@pytest.fixture(scope="module")
def key() -> ECKey:
    """A fresh P-256 key with its thumbprint as kid, as keys.py makes them."""
    raw = ECKey.generate_key("P-256", private=True)
    return ECKey.import_key({**raw.as_dict(private=True), "kid": raw.thumbprint()})


def issue(key: ECKey, **overrides: Any) -> str:
    """A token for CLIENT with the test defaults, any argument overridden."""
    arguments: dict[str, Any] = {
        "key": key,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "client": CLIENT,
        "scope": "budgets:read spends:write",
        "lifetime_seconds": LIFETIME,
        **overrides,
    }
    return issue_access_token(**arguments)


def verify(token: str, key: ECKey, **overrides: Any) -> Any:
    """Verify with the test defaults, any argument overridden."""
    arguments: dict[str, Any] = {"key": key, "issuer": ISSUER, "audience": AUDIENCE, **overrides}
    return verify_access_token(token, **arguments)


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def good_claims(now: int | None = None) -> dict[str, Any]:
    """The claims issue_access_token would put in a token."""
    issued_at = int(time.time()) if now is None else now
    return {
        "iss": ISSUER,
        "sub": CLIENT.client_id,
        "aud": AUDIENCE,
        "exp": issued_at + LIFETIME,
        "iat": issued_at,
        "nbf": issued_at,
        "jti": uuid.uuid4().hex,
        "client_id": CLIENT.client_id,
        "scope": "budgets:read",
        "agency_id": str(CLIENT.agency_id),
        "cid": str(CLIENT.id),
    }


def sign(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    """Sign arbitrary claims and header with joserfc (typ only if given), in low-S form."""
    full_header = {"alg": "ES256", "kid": key_id(key), **header}
    token = jwt.encode(full_header, claims, key, algorithms=["ES256"], default_type=None)
    return with_signature(token, to_low_s(signature_of(token)))


def signature_of(token: str) -> bytes:
    """The raw R || S signature of a compact JWS."""
    return base64.urlsafe_b64decode(token.rpartition(".")[2] + "==")


def with_signature(token: str, signature: bytes) -> str:
    """The same token with another signature."""
    return f"{token.rpartition('.')[0]}.{b64(signature)}"


def high_s_twin(token: str) -> str:
    """The token with its signature's s replaced by n - s: the same signature, malleated."""
    signature = signature_of(token)
    s = int.from_bytes(signature[32:], "big")
    return with_signature(token, signature[:32] + (P256_ORDER - s).to_bytes(32, "big"))


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS assembled by hand, for forgeries joserfc would refuse to make."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


class TestRoundTrip:
    def test_issued_token_verifies_to_the_caller(self, key: ECKey) -> None:
        caller = verify(issue(key), key)
        assert caller.client_pk == CLIENT.id
        assert caller.client_id == CLIENT.client_id
        assert caller.agency_id == CLIENT.agency_id
        assert caller.scopes == frozenset({"budgets:read", "spends:write"})

    def test_header_is_rfc9068(self, key: ECKey) -> None:
        token = issue(key)
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header == {"alg": "ES256", "typ": "at+jwt", "kid": key.thumbprint()}

    def test_claims_are_rfc9068(self, key: ECKey) -> None:
        now = int(time.time())
        claims = jwt.decode(issue(key, now=now), key, algorithms=["ES256"]).claims
        assert claims["iss"] == ISSUER
        assert claims["sub"] == claims["client_id"] == CLIENT.client_id
        assert claims["aud"] == AUDIENCE
        assert claims["iat"] == claims["nbf"] == now
        assert claims["exp"] == now + LIFETIME
        assert claims["agency_id"] == str(CLIENT.agency_id)
        assert claims["cid"] == str(CLIENT.id)
        assert len(claims["jti"]) == 32

    def test_every_token_has_its_own_jti(self, key: ECKey) -> None:
        first = jwt.decode(issue(key), key, algorithms=["ES256"]).claims["jti"]
        second = jwt.decode(issue(key), key, algorithms=["ES256"]).claims["jti"]
        assert first != second

    @pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
    def test_access_token_types_are_accepted(self, key: ECKey, typ: str) -> None:
        assert verify(sign(key, good_claims(), typ=typ), key).client_id == CLIENT.client_id

    def test_audience_list_containing_ours_is_accepted(self, key: ECKey) -> None:
        claims = {**good_claims(), "aud": ["other", AUDIENCE]}
        assert verify(sign(key, claims, typ="at+jwt"), key).client_id == CLIENT.client_id

    def test_clock_skew_within_leeway_is_tolerated(self, key: ECKey) -> None:
        now = int(time.time())
        token = issue(key, now=now + LEEWAY_SECONDS - 5)  # issued slightly "in the future"
        assert verify(token, key, now=now).client_id == CLIENT.client_id


class TestRefusals:
    def test_expired(self, key: ECKey) -> None:
        token = issue(key, now=int(time.time()) - LIFETIME - LEEWAY_SECONDS - 1)
        with pytest.raises(InvalidToken, match="expired"):
            verify(token, key)

    def test_not_yet_valid(self, key: ECKey) -> None:
        now = int(time.time())
        claims = {**good_claims(now), "nbf": now + 3600}
        with pytest.raises(InvalidToken, match="not valid yet"):
            verify(sign(key, claims, typ="at+jwt"), key, now=now)

    def test_issued_in_the_future(self, key: ECKey) -> None:
        token = issue(key, now=int(time.time()) + 3600)
        with pytest.raises(InvalidToken):
            verify(token, key)

    def test_wrong_issuer(self, key: ECKey) -> None:
        with pytest.raises(InvalidToken, match="issuer"):
            verify(issue(key, issuer="https://evil.example"), key)

    def test_wrong_audience(self, key: ECKey) -> None:
        with pytest.raises(InvalidToken, match="audience"):
            verify(issue(key, audience="someone-else"), key)

    def test_missing_typ(self, key: ECKey) -> None:
        with pytest.raises(InvalidToken, match="typ"):
            verify(sign(key, good_claims()), key)

    @pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt2", "id_token", ""])
    def test_other_typ(self, key: ECKey, typ: str) -> None:
        with pytest.raises(InvalidToken, match="typ"):
            verify(sign(key, good_claims(), typ=typ), key)

    def test_alg_none(self, key: ECKey) -> None:
        token = unsigned({"alg": "none", "typ": "at+jwt", "kid": key_id(key)}, good_claims())
        with pytest.raises(InvalidToken, match="ES256"):
            verify(token, key)

    def test_hs256_signed_with_the_public_key(self, key: ECKey) -> None:
        # The classic confusion attack: HMAC keyed with the (public) verification key.
        header = {"alg": "HS256", "typ": "at+jwt", "kid": key_id(key)}
        head = b64(json.dumps(header).encode())
        body = b64(json.dumps(good_claims()).encode())
        for secret in (key.as_pem(private=False), json.dumps(key.as_dict()).encode()):
            mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            with pytest.raises(InvalidToken, match="ES256"):
                verify(f"{head}.{body}.{b64(mac)}", key)

    def test_tampered_payload(self, key: ECKey) -> None:
        head, _, signature = issue(key, scope="budgets:read").split(".")
        claims = {**good_claims(), "scope": "budgets:read spends:approve ledger:read"}
        with pytest.raises(InvalidToken, match="signature"):
            verify(f"{head}.{b64(json.dumps(claims).encode())}.{signature}", key)

    def test_signed_by_another_key(self, key: ECKey) -> None:
        other = ECKey.generate_key("P-256", private=True)
        with pytest.raises(InvalidToken):
            verify(issue(other), key)

    def test_signed_by_another_key_claiming_our_kid(self, key: ECKey) -> None:
        other = ECKey.generate_key("P-256", private=True)
        token = jwt.encode(
            {"alg": "ES256", "typ": "at+jwt", "kid": key_id(key)}, good_claims(), other
        )
        with pytest.raises(InvalidToken, match="signature"):
            verify(token, key)

    def test_our_key_under_another_kid(self, key: ECKey) -> None:
        with pytest.raises(InvalidToken, match="signing key"):
            verify(sign(key, good_claims(), typ="at+jwt", kid="old-key"), key)

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "garbage",
            "a.b",
            "a.b.c",
            "....",
            "a.b.c.d.e",
            "é.é.é",
            "\ud800.x.y",
            "x" * 100_000,
            "eyJhbGciOiJFUzI1NiJ9",
            "Bearer abc",
            b64(b'"alg"') + ".e30.",
            b64(b"[1,2]") + ".e30.",
            b64(b"42") + ".e30.",
            b64(b'{"alg":"ES256"}') + "." + b64(b"[]") + ".AA",
            b64(b'{"alg":"ES256","crit":["b64"],"b64":false}') + ".x.AA",
        ],
    )
    def test_garbage(self, key: ECKey, token: str) -> None:
        with pytest.raises(InvalidToken):
            verify(token, key)

    def test_non_string(self, key: ECKey) -> None:
        with pytest.raises(InvalidToken):
            verify(b"not.a.str", key)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "changes",
        [
            {"cid": None},
            {"agency_id": None},
            {"scope": None},
            {"client_id": None},
            {"sub": None},
            {"jti": None},
            {"exp": None},
            {"iat": None},
            {"iss": None},
            {"aud": None},
            {"cid": "not-a-uuid"},
            {"agency_id": 42},
            {"scope": ["budgets:read"]},
            {"scope": ""},
            {"sub": "ob_someone_else"},
            {"client_id": 7},
            {"exp": "tomorrow"},
            {"exp": float("nan")},
            {"iat": True},
            {"aud": 5},
            {"iss": ["x"]},
        ],
    )
    def test_missing_or_malformed_claims(self, key: ECKey, changes: dict[str, Any]) -> None:
        claims = good_claims()
        for name, value in changes.items():
            if value is None:
                del claims[name]
            else:
                claims[name] = value
        header = {"alg": "ES256", "typ": "at+jwt", "kid": key_id(key)}
        head = b64(json.dumps(header).encode())
        # json.dumps writes NaN, which is not JSON; Python's parser (joserfc's) reads it.
        body = b64(json.dumps(claims).encode())
        signing_input = f"{head}.{body}".encode()
        token = f"{head}.{body}.{_es256(key, signing_input)}"
        with pytest.raises(InvalidToken):
            verify(token, key)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_claim_names = st.sampled_from(sorted(good_claims())) | st.text(max_size=8)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.dictionaries(_claim_names, _json, max_size=4),
    extra_header=st.dictionaries(
        st.sampled_from(["typ", "kid", "crit", "b64", "jku", "x5u", "cty"]), _json, max_size=2
    ),
)
def test_any_signed_claims_give_a_caller_or_invalid_token(
    key: ECKey, changes: dict[str, Any], extra_header: dict[str, Any]
) -> None:
    """Validly signed but arbitrary claims and headers: a Caller or InvalidToken, nothing else."""
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key_id(key), **extra_header}
    head = b64(json.dumps(header).encode())
    claims = {**good_claims(), **changes}
    body = b64(json.dumps(claims).encode())
    token = f"{head}.{body}.{_es256(key, f'{head}.{body}'.encode())}"
    try:
        caller = verify(token, key)
    except InvalidToken as refused:
        assert str(refused)  # always a reason to show the caller
    else:
        # Accepted only as exactly what the signed claims say.
        assert isinstance(caller, Caller)
        assert caller.client_id == claims["client_id"] == claims["sub"]
        assert str(caller.client_pk) == str(uuid.UUID(claims["cid"]))
        assert caller.scopes == frozenset(claims["scope"].split())


@given(
    token=st.text(max_size=300)
    | st.lists(st.text(max_size=80), min_size=3, max_size=3).map(".".join)
)
def test_any_string_is_refused_with_invalid_token(token: str) -> None:
    """Random text never verifies, and never raises anything but InvalidToken."""
    with pytest.raises(InvalidToken):
        verify(token, _KEY)


def _es256(key: ECKey, message: bytes) -> str:
    """A raw low-S ES256 signature of `message`, for hand-assembled tokens."""
    return b64(to_low_s(JWSRegistry.algorithms["ES256"].sign(message, key)))


class TestLowS:
    def test_issued_tokens_are_low_s(self, key: ECKey) -> None:
        # joserfc alone gives high S half the time: 32 low ones in a row is no accident.
        assert all(is_low_s(signature_of(issue(key))) for _ in range(32))

    def test_the_high_s_twin_of_a_valid_token_is_refused(self, key: ECKey) -> None:
        token = issue(key)
        twin = high_s_twin(token)
        # joserfc itself accepts the twin: the refusal is ours.
        jwt.decode(twin, key, algorithms=["ES256"])
        assert verify(token, key).client_id == CLIENT.client_id
        with pytest.raises(InvalidToken, match="low-S"):
            verify(twin, key)

    def test_to_low_s_keeps_low_and_flips_high(self) -> None:
        low = bytes(32) + (5).to_bytes(32, "big")
        high = bytes(32) + (P256_ORDER - 5).to_bytes(32, "big")
        assert to_low_s(low) == low and to_low_s(high) == low
        assert is_low_s(low) and not is_low_s(high) and not is_low_s(low[:-1])


class TestSigningKey:
    def test_created_with_mode_0600_and_stable_kid(self, tmp_path: Path) -> None:
        first = load_or_create_signing_key(tmp_path)
        path = tmp_path / KEY_FILE_NAME
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        second = load_or_create_signing_key(tmp_path)
        assert first.kid == second.kid == first.thumbprint()
        assert first.as_dict(private=True)["d"] == second.as_dict(private=True)["d"]

    def test_file_is_a_private_es256_jwk(self, tmp_path: Path) -> None:
        key = load_or_create_signing_key(tmp_path)
        document = json.loads((tmp_path / KEY_FILE_NAME).read_text())
        assert document["kty"] == "EC" and document["crv"] == "P-256"
        assert document["alg"] == "ES256" and document["use"] == "sig"
        assert document["kid"] == key.kid and "d" in document

    def test_creates_missing_data_dir(self, tmp_path: Path) -> None:
        key = load_or_create_signing_key(tmp_path / "deep" / "er")
        assert (tmp_path / "deep" / "er" / KEY_FILE_NAME).exists() and key.is_private

    def test_concurrent_starts_agree_on_one_key(self, tmp_path: Path) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            kids = set(pool.map(lambda _: load_or_create_signing_key(tmp_path).kid, range(16)))
        assert len(kids) == 1
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != KEY_FILE_NAME]
        assert leftovers == []

    def test_tokens_survive_a_restart(self, tmp_path: Path) -> None:
        token = issue(load_or_create_signing_key(tmp_path))
        assert verify(token, load_or_create_signing_key(tmp_path)).client_id == CLIENT.client_id

    def test_public_jwks_has_no_private_part(self, tmp_path: Path) -> None:
        key = load_or_create_signing_key(tmp_path)
        jwks = public_jwks(key)
        [published] = jwks["keys"]
        assert "d" not in published
        assert published["kid"] == key.kid
        assert published["alg"] == "ES256" and published["use"] == "sig"
        assert {"kty", "crv", "x", "y"} <= set(published)
        # The published key alone verifies our tokens.
        public = ECKey.import_key(published)
        assert not public.is_private
        assert verify(issue(key), public).client_id == CLIENT.client_id

    def test_corrupt_file_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / KEY_FILE_NAME).write_text("{not json")
        with pytest.raises(SigningKeyError):
            load_or_create_signing_key(tmp_path)

    def test_public_only_file_is_refused(self, tmp_path: Path) -> None:
        key = ECKey.generate_key("P-256", private=True)
        (tmp_path / KEY_FILE_NAME).write_text(json.dumps(key.as_dict(private=False)))
        with pytest.raises(SigningKeyError):
            load_or_create_signing_key(tmp_path)

    def test_other_curve_is_refused(self, tmp_path: Path) -> None:
        key = ECKey.generate_key("P-384", private=True)
        (tmp_path / KEY_FILE_NAME).write_text(json.dumps(key.as_dict(private=True)))
        with pytest.raises(SigningKeyError):
            load_or_create_signing_key(tmp_path)

    @pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
    def test_a_key_others_may_read_is_refused(self, tmp_path: Path, mode: int) -> None:
        load_or_create_signing_key(tmp_path)
        path = tmp_path / KEY_FILE_NAME
        path.chmod(mode)
        with pytest.raises(SigningKeyError, match="group or others") as refused:
            load_or_create_signing_key(tmp_path)
        assert refused.value.fix.startswith(f"chmod 600 {path}")
        path.chmod(0o600)
        assert load_or_create_signing_key(tmp_path).is_private


class TestSecrets:
    def test_hash_round_trip(self) -> None:
        secret = new_client_secret()
        hashed = hash_secret(secret)
        assert hashed.startswith("sha256$") and secret not in hashed
        assert verify_secret(secret, hashed)

    def test_wrong_secret(self) -> None:
        assert not verify_secret("wrong", hash_secret(new_client_secret()))

    @pytest.mark.parametrize("stored", ["", "plain", "bcrypt$abc", "sha256$", "sha256$é"])
    def test_odd_stored_values_never_match(self, stored: str) -> None:
        assert not verify_secret("plain", stored)

    def test_odd_presented_secrets_never_match(self) -> None:
        hashed = hash_secret(new_client_secret())
        for secret in ("", "\x00", "\ud800", "é" * 1000):
            assert not verify_secret(secret, hashed)

    def test_secret_has_256_bits(self) -> None:
        secret = new_client_secret()
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32

    def test_client_ids_are_unique_and_fit_the_column(self) -> None:
        ids = {new_client_id() for _ in range(100)}
        assert len(ids) == 100
        assert all(i.startswith("ob_") and len(i) <= 64 for i in ids)
