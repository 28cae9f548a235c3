"""The client's address behind trusted proxies, without sockets."""

from __future__ import annotations

import pytest

from chatroom.net.proxy import client_address, parse_network

TRUSTED = (parse_network("10.0.0.0/8"), parse_network("::1"))


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # An untrusted peer's headers are its own words: ignored.
        ("198.51.100.7", {"x-forwarded-for": "203.0.113.9"}, "198.51.100.7"),
        # A trusted proxy names the client.
        ("10.0.0.2", {"x-forwarded-for": "203.0.113.9"}, "203.0.113.9"),
        # The right-most address that is not a proxy of ours: what the
        # client wrote itself (the left part) is not believed.
        ("10.0.0.2", {"x-forwarded-for": "1.2.3.4, 203.0.113.9, 10.0.0.5"}, "203.0.113.9"),
        # Every hop ours: the first.
        ("10.0.0.2", {"x-forwarded-for": "10.1.1.1, 10.0.0.5"}, "10.1.1.1"),
        # No header: the proxy itself.
        ("10.0.0.2", {}, "10.0.0.2"),
        # The client's own (left) part malformed: what our proxy saw counts.
        ("10.0.0.2", {"x-forwarded-for": "nonsense, 203.0.113.9"}, "203.0.113.9"),
        ("10.0.0.2", {"x-forwarded-for": "unknown, , 203.0.113.9"}, "203.0.113.9"),
        # Our proxies' part unreadable: unknown, never the proxy itself.
        ("10.0.0.2", {"x-forwarded-for": "203.0.113.9, nonsense"}, "unknown"),
        ("10.0.0.2", {"x-forwarded-for": ""}, "unknown"),
        # An IPv4 proxy seen by a dual-stack listener.
        ("::ffff:10.0.0.2", {"x-forwarded-for": "203.0.113.9"}, "203.0.113.9"),
        # Ports and IPv6 as proxies write them.
        ("::1", {"x-forwarded-for": "203.0.113.9:5123"}, "203.0.113.9"),
        ("::1", {"x-forwarded-for": "[2001:db8::7]:443"}, "2001:db8::7"),
        ("::1", {"x-forwarded-for": "2001:db8::7"}, "2001:db8::7"),
        # RFC 7239, when X-Forwarded-For is absent.
        (
            "10.0.0.2",
            {"forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'},
            "2001:db8::1",
        ),
        ("10.0.0.2", {"forwarded": "for=192.0.2.60, for=10.0.0.9"}, "192.0.2.60"),
        ("10.0.0.2", {"forwarded": "proto=https"}, "unknown"),
        ("10.0.0.2", {"forwarded": "for=unknown"}, "unknown"),
    ],
)
def test_client_address(peer: str, headers: dict[str, str], client: str) -> None:
    assert client_address(peer, headers, TRUSTED) == client


def test_without_trusted_proxies_headers_never_count() -> None:
    assert client_address("10.0.0.2", {"x-forwarded-for": "203.0.113.9"}, ()) == "10.0.0.2"


@pytest.mark.parametrize("text", ["", "10.0.0.0/33", "example.com", "10.0.0.0/8/8"])
def test_bad_networks_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_network(text)
