"""Who the client is, behind trusted proxies only.

`X-Forwarded-For` and `X-Forwarded-Proto` are anyone's to send. They count only when the
direct peer is one of `TRUSTED_PROXIES` (IP addresses or networks); from anyone else the
middleware drops them, so Django's `SECURE_PROXY_SSL_HEADER` and every IP-based limit
(DRF's throttles, allauth's login limits) see the same, unspoofable client.
"""

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO")


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES has {entry!r}, which is not an IP address or network "
                "(write e.g. 10.0.0.1 or 10.0.0.0/8, comma-separated)."
            ) from None
    return tuple(networks)


def trusted_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.TRUSTED_PROXIES))


def parse_ip(value: str) -> IPAddress | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`), or None."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: IPAddress | None) -> bool:
    return address is not None and any(address in network for network in trusted_networks())


def client_ip(request: HttpRequest) -> str:
    """The client's address: the peer, or, from a trusted proxy, the first untrusted
    `X-Forwarded-For` hop counting from the right (each trusted proxy appends its peer)."""
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    client = peer
    if is_trusted_proxy(peer):
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                break
            client = address
            if not is_trusted_proxy(address):
                break
    return str(client)


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: forwarded headers from an untrusted peer are removed before
    anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        trusted_networks()  # a bad TRUSTED_PROXIES stops start-up, not the first request

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Without TRUSTED_PROXIES no peer is one: the address need not be parsed.
        if not trusted_networks() or not is_trusted_proxy(parse_ip(request.META.get("REMOTE_ADDR", ""))):
            for header in _FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
