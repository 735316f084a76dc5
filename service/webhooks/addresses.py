"""Where a webhook may go: public https addresses only, unless a setting allows a network.

OWASP API7 (server-side request forgery): a partner names a URL and our worker calls it, so
the URL must not reach our own machine or network. A URL is checked when it is registered
(its scheme, and any address it names or resolves to now) and again at every delivery,
where its host is resolved once and the call connects to that very address (the Host
header and TLS server name stay the URL's), so a name that re-resolves elsewhere between
the check and the call gains nothing. Every address the name resolves to must pass.

Allowed: a globally routable unicast address over https; or any address in
ONEBUDGET_WEBHOOK_ALLOWED_NETWORKS (tests, sandboxes), over http or https.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedUrl(ValueError):
    """The URL may not be called: what is wrong with it, in words a partner can act on."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one call goes: the URL with the resolved address, and how to name the host."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str] = field(default_factory=dict)


def _allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> tuple[bool, bool]:
    """(may be called at all, may be called over plain http)."""
    if any(address in network for network in networks):
        return True, True
    public = address.is_global and not address.is_multicast
    return public, False


def _check_address(address: IPAddress, scheme: str, networks: Sequence[IPNetwork]) -> None:
    # ::ffff:10.0.0.1 is 10.0.0.1 to the network: judge (and name) it as such.
    address = getattr(address, "ipv4_mapped", None) or address
    allowed, plain_http = _allowed(address, networks)
    if not allowed:
        raise RefusedUrl(
            f"{address} is a private, loopback, link-local or reserved address;"
            " webhooks go to public addresses only."
        )
    if scheme != "https" and not plain_http:
        raise RefusedUrl("Webhook URLs must use https.")


def parse(url: str) -> httpx.URL:
    """The URL, if it is one we would call at all: http(s), a host, no user:password."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        raise RefusedUrl(f"Not a URL: {error}.") from None
    if parsed.scheme not in ("https", "http"):
        raise RefusedUrl("Webhook URLs must use https.")
    if not parsed.host:
        raise RefusedUrl("The URL names no host.")
    if parsed.userinfo:
        raise RefusedUrl("The URL must not carry a user name or password.")
    return parsed


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address the host resolves to (getaddrinfo, within the timeout)."""
    loop = asyncio.get_running_loop()
    found = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=timeout
    )
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def addresses_of(url: httpx.URL, timeout: float) -> list[IPAddress]:
    """The addresses a call to the URL would go to: its literal address, or its host's."""
    literal = _literal(url.host)
    if literal is not None:
        return [literal]
    try:
        return await _resolve(url.host, url.port or _default_port(url), timeout)
    except (OSError, TimeoutError) as error:
        raise RefusedUrl(f"Cannot resolve {url.host}: {error or 'timed out'}.") from None


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


async def check_registration(url: str, *, networks: Sequence[IPNetwork], timeout: float) -> str:
    """Refuse a URL that could never be called; the URL as it will be stored.

    A name that does not resolve now is accepted (its deliveries fail and are retried
    until it does); one that resolves to a refused address is not.
    """
    parsed = parse(url)
    try:
        addresses = await addresses_of(parsed, timeout)
    except RefusedUrl:
        if _literal(parsed.host) is not None:
            raise
        addresses = []
    for address in addresses:
        _check_address(address, parsed.scheme, networks)
    if not addresses and parsed.scheme != "https":
        raise RefusedUrl("Webhook URLs must use https.")
    return str(parsed)


async def target(url: str, *, networks: Sequence[IPNetwork], timeout: float) -> Target:
    """Resolve the URL's host once, check every address, and aim the call at the first."""
    parsed = parse(url)
    addresses = await addresses_of(parsed, timeout)
    if not addresses:
        raise RefusedUrl(f"{parsed.host} resolves to no address.")
    for address in addresses:
        _check_address(address, parsed.scheme, networks)
    aimed = parsed.copy_with(host=str(addresses[0]))
    netloc = parsed.netloc.decode("ascii")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(aimed, {"Host": netloc}, extensions)
