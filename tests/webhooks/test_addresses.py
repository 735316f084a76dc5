"""Where a webhook may go (service.webhooks.addresses): checked, resolved once, aimed there."""

from ipaddress import ip_network

import pytest

from service.webhooks import addresses
from service.webhooks.addresses import RefusedUrl, target

LOOPBACK = [ip_network("127.0.0.0/8"), ip_network("::1/128")]


async def test_a_call_goes_to_the_address_resolved_with_the_urls_host_named() -> None:
    aimed = await target("https://localhost:8443/hooks?t=1", networks=LOOPBACK, timeout=2)
    assert aimed.url.host in ("127.0.0.1", "::1")
    assert (aimed.url.port, aimed.url.path, aimed.url.query) == (8443, "/hooks", b"t=1")
    assert aimed.headers == {"Host": "localhost:8443"}
    assert aimed.extensions == {"sni_hostname": "localhost"}  # TLS checks the name, not the IP


async def test_plain_http_names_no_tls_server() -> None:
    aimed = await target("http://127.0.0.1:9/hooks", networks=LOOPBACK, timeout=2)
    assert str(aimed.url) == "http://127.0.0.1:9/hooks" and aimed.extensions == {}


async def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address() -> None:
    aimed = await target("http://[::ffff:127.0.0.1]:9/hooks", networks=LOOPBACK, timeout=2)
    assert aimed.url.port == 9
    with pytest.raises(RefusedUrl, match="10.0.0.1"):
        await target("https://[::ffff:10.0.0.1]/hooks", networks=LOOPBACK, timeout=2)


async def test_a_name_resolving_inside_is_refused_at_delivery_too() -> None:
    with pytest.raises(RefusedUrl, match="loopback"):
        await target("https://localhost/hooks", networks=[], timeout=2)


async def test_every_address_a_name_resolves_to_must_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with one public and one private address is refused, whichever comes first."""
    from ipaddress import ip_address

    async def resolved(host: str, port: int, timeout: float) -> list[object]:
        return [ip_address("8.8.8.8"), ip_address("10.0.0.7")]

    monkeypatch.setattr(addresses, "_resolve", resolved)
    with pytest.raises(RefusedUrl, match="10.0.0.7"):
        await target("https://partner.example/hooks", networks=[], timeout=2)


async def test_a_name_that_does_not_resolve_is_not_called() -> None:
    with pytest.raises(RefusedUrl, match="Cannot resolve"):
        await target("https://no-such-host.invalid/hooks", networks=[], timeout=2)
