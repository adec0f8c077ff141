"""Which IP addresses the web fetcher may connect to: the public internet only.

Refused: private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback,
link-local (169.254/16 with the cloud metadata address, fe80::/10),
multicast, reserved and documentation ranges, CGNAT (100.64/10), the
unspecified ``0.0.0.0`` and ``::``, and IPv6 addresses that carry an IPv4
one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo) when that IPv4 address
is refused. Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# inet_aton's forms: 2130706433, 0x7f000001, 0177.0.0.1, 127.1
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is written as one, in any form a
    resolver would accept (``[::1]``, ``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``); None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_V4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip in _CGNAT, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not global"),
    )
    return next((why for hit, why in checks if hit), None)


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why the fetcher must not connect to ``ip`` (one word or two), or None
    when it is a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    inner = _embedded_v4(ip)
    if inner is not None:
        why = _v4_refusal(inner)
        if why is not None:
            return f"{why} (IPv4 inside IPv6)"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local or ip.is_site_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not global"),
    )
    return next((why for hit, why in checks if hit), None)
