"""Low-S ES256 signatures: one canonical signature per token, so none can be malleated.

An ECDSA signature (r, s) verifies exactly when (r, n - s) does. joserfc signs with
whatever s the library draws and verifies both forms, so anyone holding one of our
tokens could mint a second, different token string that verifies just as well. Tokens
are signed here in the low form (s <= n/2, as Bitcoin's BIP 62 and libsecp256k1 do)
and the high form is refused on verification.
"""

# The order n of the P-256 group (SEC 2, FIPS 186-4 D.1.2.3).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
# JWS ES256 signatures are R || S, each 32 bytes big-endian (RFC 7518 §3.4).
SIGNATURE_BYTES = 64
_HALF = SIGNATURE_BYTES // 2


def _s_of(signature: bytes) -> int:
    """The S half of an R || S signature."""
    return int.from_bytes(signature[_HALF:], "big")


def is_low_s(signature: bytes) -> bool:
    """Whether an R || S ES256 signature is 64 bytes with s in the low half (s <= n/2)."""
    return len(signature) == SIGNATURE_BYTES and _s_of(signature) <= _HALF_ORDER


def to_low_s(signature: bytes) -> bytes:
    """The low-S form of a 64-byte R || S signature (unchanged if it is already low)."""
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"an ES256 signature is {SIGNATURE_BYTES} bytes, not {len(signature)}")
    s = _s_of(signature)
    if s <= _HALF_ORDER:
        return signature
    return signature[:_HALF] + (P256_ORDER - s).to_bytes(_HALF, "big")
