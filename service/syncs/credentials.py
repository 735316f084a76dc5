"""An agency's credentials: read from a secrets file when needed, never stored or logged.

A connection names its own file (`onebudget connect --credentials FILE`), or takes its
agency's entry in the settings' file (ONEBUDGET_AGENCY_CREDENTIALS_FILE, a JSON object of
agency id to credentials). Either must be readable by its owner only (mode 0600), as
the token signing key must.
"""

import json
import stat
import uuid
from pathlib import Path


class CredentialsError(ValueError):
    """The credentials cannot be used; the message says what to fix (and holds no secret)."""


def _read(path: Path) -> object:
    """The JSON in a secrets file that only its owner may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"the credentials file {path} may be read by others (mode {stat.S_IMODE(mode):o}):"
            f" chmod 600 {path}"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        raise CredentialsError(f"the credentials file {path} is not a JSON object") from None


def _strings(value: object, where: str) -> dict[str, str]:
    """A JSON object of strings, else CredentialsError."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise CredentialsError(f"{where} must be a JSON object of strings")
    return dict(value)


def connection_credentials(
    *, credentials_file: str | None, agency_id: uuid.UUID, settings_file: Path | None
) -> dict[str, str]:
    """The credentials of an agency's connection: its own file, else the settings' entry."""
    if credentials_file is not None:
        path = Path(credentials_file)
        return _strings(_read(path), f"the credentials file {path}")
    if settings_file is None:
        return {}
    entries = _read(settings_file)
    if not isinstance(entries, dict):
        raise CredentialsError(f"{settings_file} must map agency ids to credentials")
    entry = entries.get(str(agency_id))
    return {} if entry is None else _strings(entry, f"{settings_file}'s entry for {agency_id}")


def check_file(path: Path) -> None:
    """Refuse a credentials file that cannot be used, before a connection names it."""
    _strings(_read(path), f"the credentials file {path}")
