"""The service's token-signing key: one ES256 (P-256) private key kept as a JWK file.

The key lives in `<data_dir>/signing-key.json`, readable by its owner only (0600); a key
file its group or others may read or write is refused, and the service does not start. It
is made on first start. Several processes may start at once (uvicorn workers, the CLI), so
creation must never let two of them sign with different keys: the new key is written
to a private temporary file and then *linked* into place, which fails if another process
got there first; the loser throws its key away and loads the winner's.

The `kid` is the key's RFC 7638 thumbprint, so it is derived from the key itself and is
the same in every process and after every restart. Tokens name it; the JWKS publishes it,
which leaves room to rotate keys later by publishing two.
"""

import contextlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

log = logging.getLogger(__name__)

KEY_FILE_NAME = "signing-key.json"
ALGORITHM = "ES256"
CURVE = "P-256"


class SigningKeyError(RuntimeError):
    """The signing-key file cannot be used: unsafe permissions, or not an ES256 private key.

    `reason` says what is wrong and `fix` what to do; str() holds both, for wherever the
    error surfaces outside the command line (e.g. a worker process's traceback).
    """

    def __init__(self, reason: str, *, fix: str) -> None:
        super().__init__(f"{reason}. To fix: {fix}")
        self.reason = reason
        self.fix = fix


def _replace_key_fix(path: Path) -> str:
    """What to do with a key file that holds no usable key."""
    return (
        f"restore {path} from a backup, or move it away so a new key is made on the next "
        "start (tokens signed with the old key then stop working)"
    )


def load_or_create_signing_key(data_dir: Path) -> ECKey:
    """The ES256 private key in data_dir/signing-key.json, created (mode 0600) if missing."""
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _create_key_file(path)
    return _load_key_file(path)


def public_jwks(key: ECKey) -> dict[str, list[dict[str, Any]]]:
    """The JWK Set for /.well-known/jwks.json: the public half only, with kid, alg and use."""
    public = key.as_dict(private=False)
    # as_dict(private=False) drops the fields the registry marks private ("d"); check
    # anyway, since publishing "d" would hand out the power to mint tokens.
    public.pop("d", None)
    public.update({"kid": _kid(key), "alg": ALGORITHM, "use": "sig"})
    return {"keys": [dict(public)]}


def _kid(key: ECKey) -> str:
    """The key's id: its RFC 7638 thumbprint."""
    return key.thumbprint()


def _create_key_file(path: Path) -> None:
    """Write a new private key to `path` unless another process has already done so."""
    key = ECKey.generate_key(CURVE, private=True)
    document = dict(key.as_dict(private=True))
    document.update({"kid": _kid(key), "alg": ALGORITHM, "use": "sig"})
    payload = json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    # mkstemp creates the file with mode 0600 from the start, so the private key is never
    # readable by others, not even for a moment.
    fd, temp_name = tempfile.mkstemp(prefix=".signing-key-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() is atomic and refuses to overwrite: exactly one process wins.
            os.link(temp_name, path)
        except FileExistsError:
            log.info("signing key created concurrently by another process; using that one")
        except OSError:
            # Filesystems without hard links: fall back to an atomic replace. A reader
            # never sees a half-written file; in the rare race both keep the last one.
            if not path.exists():
                os.replace(temp_name, path)
        else:
            log.info("created token signing key %s", path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _load_key_file(path: Path) -> ECKey:
    """Read and check the key file; refuse anything but a P-256 private key."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Whoever can read the key can sign tokens for any client: refuse to run with it
        # rather than warn in a log nobody reads.
        raise SigningKeyError(
            f"{path} is open to its group or others (mode {mode:04o}); anyone who can read "
            "it can sign access tokens for any client",
            fix=f"chmod 600 {path} (and check who may have read it; if in doubt, move it "
            "away so a new key is made, which ends every token signed with the old one)",
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            # joserfc would try to read a non-object as PEM/DER bytes, with a baffling error.
            raise ValueError("not a JSON object")
        key = ECKey.import_key(document)
    except (OSError, ValueError, TypeError, KeyError, JoseError) as exc:
        raise SigningKeyError(
            f"{path} does not hold a valid EC JWK: {exc}", fix=_replace_key_fix(path)
        ) from exc
    if not key.is_private or key.curve_name != CURVE:
        raise SigningKeyError(
            f"{path} must hold a {CURVE} private key for {ALGORITHM}", fix=_replace_key_fix(path)
        )
    kid = _kid(key)
    if document.get("kid") not in (None, kid):
        raise SigningKeyError(
            f"{path}: kid does not match the key's RFC 7638 thumbprint",
            fix=f"remove the kid member from {path} (it is derived from the key), or "
            + _replace_key_fix(path),
        )
    # Re-import with kid/alg/use fixed, so signing checks the key is used for ES256 only.
    return ECKey.import_key({**document, "kid": kid, "alg": ALGORITHM, "use": "sig"})
