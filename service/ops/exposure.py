"""Refuse to listen beyond loopback unless TLS ends in front and tokens name an https issuer.

The server speaks plain HTTP. On loopback that is the laptop demo; anywhere else bearer
tokens and personal data would cross the network in clear, and tokens would name an
http:// issuer that partners must not trust.
"""

import ipaddress

from service.config import Settings


class UnsafeExposure(RuntimeError):
    """The settings would serve plain HTTP beyond this machine."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


def check_exposure(settings: Settings) -> None:
    """Raise UnsafeExposure, saying what to set, if the settings are unsafe to serve."""
    if is_loopback(settings.host):
        return
    issuer = settings.token_issuer
    if not settings.tls_terminated_upstream:
        raise UnsafeExposure(
            f"refusing to listen on {settings.host}, beyond loopback, with plain HTTP."
            " Put a TLS-terminating proxy in front and set"
            " ONEBUDGET_TLS_TERMINATED_UPSTREAM=true and ONEBUDGET_ISSUER=https://<public"
            " name>, or listen on 127.0.0.1."
        )
    if not issuer.startswith("https://"):
        raise UnsafeExposure(
            f"refusing to serve beyond loopback with the token issuer {issuer!r}: set"
            " ONEBUDGET_ISSUER to the https:// URL partners reach this service at."
        )
