"""The client address that sign-in throttling counts.

REMOTE_ADDR, the address of the peer that opened the connection, unless that peer is one
of FIRSTLINE_TRUSTED_PROXIES: then X-Forwarded-For is read from the right, hop by hop,
while each hop is a trusted proxy, and the first hop that is not is the client. Without
trusted proxies the header is ignored, because any client can write it.

IPv6 clients are counted per /64 network: one host usually holds a whole /64, and
counting single addresses would give an attacker 2^64 fresh counters.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


def _parse(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress) -> bool:
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.FIRSTLINE_TRUSTED_PROXIES
    )


def _bucket(address: IPAddress | None) -> str:
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(request: HttpRequest | None) -> str:
    """The client's address (an IPv6 client's /64), or "unknown" when there is none."""
    if request is None:
        return UNKNOWN
    address = _parse(request.META.get("REMOTE_ADDR", ""))
    if address is None or not _trusted(address):
        return _bucket(address)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        parsed = _parse(hop)
        if parsed is None:
            # A garbled hop: trust stops here, the last proxy's peer is the client we know.
            break
        address = parsed
        if not _trusted(parsed):
            break
    return _bucket(address)
