"""Where outgoing webhooks may connect (server-side request forgery).

A room's owner names the target; the server connects. Without care, that
reaches what only the server can: its own loopback ports, the private
network behind it, a cloud's metadata service at 169.254.169.254. So every
address a target's name resolves to must be public: not loopback, private,
shared (carrier-grade NAT), link-local, multicast, reserved or unspecified,
in IPv4 or IPv6, nor an IPv6 address carrying such an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64) -- unless it lies in a network the
operator allowed (`--webhook-allow CIDR`). The name is resolved again for
every connection and the connection made to the very address checked, so a
name that changes its answer (DNS rebinding) cannot slip past.
"""

from __future__ import annotations

import ipaddress

import trio

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class AddressRefused(Exception):
    """The target cannot be reached: its name does not resolve, or resolves
    to an address webhooks may not reach (`refused` then says so)."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to an IPv4 host through a
    gateway, if any."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (the client's; the server's is public by design)
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Whether anyone on the Internet could reach `address` as well."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # (the IPv4 address itself)
            return is_public(address.ipv4_mapped)
        embedded = _embedded_v4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def may_reach(address: Address, allowed: tuple[Network, ...]) -> bool:
    """Whether a webhook may connect to `address`: public, or allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # (the operator allows 127.0.0.0/8, not ::ffff:...)
    if any(address.version == network.version and address in network for network in allowed):
        return True
    return is_public(address)


async def resolve(host: str, port: int, allowed: tuple[Network, ...]) -> list[Address]:
    """Every address `host` resolves to now, once each; AddressRefused if it
    resolves to none, or to any a webhook may not reach."""
    try:
        found = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # (socket.gaierror is an OSError)
        raise AddressRefused(f"cannot resolve {host}: {exc}", refused=False) from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if not may_reach(address, allowed):
            raise AddressRefused(
                f"{host} resolves to {address}, which webhooks may not reach (see --webhook-allow)",
                refused=True,
            )
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise AddressRefused(f"{host} has no address", refused=False)
    return addresses
