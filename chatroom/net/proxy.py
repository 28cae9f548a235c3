"""The client's address behind trusted reverse proxies (sans-IO).

Only when the peer is one of the trusted proxies are the forwarding headers
read at all: anyone else could write them. `X-Forwarded-For` (or, without
it, RFC 7239 `Forwarded`) lists the addresses a request came through, each
proxy appending the one it saw; walking from the right, the first address
that is not itself a trusted proxy is the client. If that address cannot be
read, the client is UNKNOWN_CLIENT (never the proxy: the left part of the
list is the client's own words). `X-Forwarded-For` wins over `Forwarded`:
a proxy that writes only `Forwarded` must drop what clients send as
`X-Forwarded-For`.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# The client named by trusted proxies in a form that cannot be read: all such
# clients count as this one address.
UNKNOWN_CLIENT = "unknown"


def is_trusted_peer(peer: str, trusted: tuple[Network, ...]) -> bool:
    return bool(trusted) and _is_trusted(_address(peer), trusted)


def parse_network(text: str) -> Network:
    """`10.0.0.0/8`, `192.0.2.7` or `::1`: a network; ValueError if not one."""
    return ipaddress.ip_network(text.strip(), strict=False)


def client_address(peer: str, headers: dict[str, str], trusted: tuple[Network, ...]) -> str:
    """Who sent the request: `peer`, or the address its trusted proxies name."""
    if not is_trusted_peer(peer, trusted):
        return peer
    if "x-forwarded-for" in headers:
        hops = [_address(hop) for hop in headers["x-forwarded-for"].split(",")]
    elif "forwarded" in headers:
        hops = [_address(_forwarded_for(element)) for element in headers["forwarded"].split(",")]
    else:
        return peer
    for hop in reversed(hops):
        if hop is None:
            # What our proxies say the client is cannot be read: not the
            # proxy's own address (that would let a client pass as it).
            return UNKNOWN_CLIENT
        if not _is_trusted(hop, trusted):
            return str(hop)
    return str(hops[0])  # every hop a proxy of ours: the first one is the client


def _is_trusted(address: Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # (an IPv4 peer of a dual-stack listener)
    return address


def _forwarded_for(element: str) -> str:
    """The `for=` of one `Forwarded` element (`for=...;proto=...`)."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value
    return ""
