"""Admission counts: a socket evicted while idle holds nothing, even if its
task goes on for a moment (its request arrived just as it was evicted)."""

from __future__ import annotations

from chatroom.net.admission import Admission, Ticket


def admission() -> Admission:
    return Admission(
        max_per_address=10, max_per_user=2, max_unauthenticated=2, max_unauthenticated_per_address=2
    )


async def test_an_evicted_socket_holds_nothing_and_cannot_be_evicted_twice() -> None:
    gate = admission()
    first, second = gate.open_socket("a"), gate.open_socket("a")
    assert isinstance(first, Ticket) and isinstance(second, Ticket)
    with gate.idle(first) as waiting:
        third = gate.open_socket("b")  # evicts `first`, the only idle socket
        assert isinstance(third, Ticket)
        assert waiting.cancel_called
    assert (gate.unauthenticated, gate.evictions) == (2, 1)
    # Its task, still running, neither authenticates nor waits to be evicted again.
    assert not gate.authenticate(first, "mallory")
    with gate.idle(first) as again:
        assert again.cancel_called
        assert isinstance(gate.open_socket("c"), str)  # no phantom room made
    gate.close_socket(first)
    assert gate.unauthenticated == 2
    assert gate.authenticate(second, "alice")
    gate.close_socket(second)
    gate.close_socket(third)
    assert (gate.unauthenticated, dict(gate.by_address), dict(gate.by_user)) == (0, {}, {})
    assert dict(gate.unauthenticated_by_address) == {}


async def test_a_trusted_proxys_sockets_count_where_their_clients_are() -> None:
    gate = Admission(
        max_per_address=2, max_per_user=2, max_unauthenticated=5, max_unauthenticated_per_address=1
    )
    # Before their heads are read, a proxy's sockets pass the per-address caps.
    first = gate.open_socket("proxy", per_address=False)
    second = gate.open_socket("proxy", per_address=False)
    assert isinstance(first, Ticket) and isinstance(second, Ticket)
    assert isinstance(gate.open_socket("proxy"), str)  # (anyone else would not)
    assert gate.readdress(first, "198.51.100.1") is None
    # The same client again is over its own cap, and is counted nowhere new.
    assert gate.readdress(second, "198.51.100.1") is not None
    assert gate.readdress(second, "198.51.100.2") is None
    assert dict(gate.unauthenticated_by_address) == {"198.51.100.1": 1, "198.51.100.2": 1}
    assert gate.authenticate(first, "ann")
    for ticket in (first, second):
        gate.close_socket(ticket)
    assert (gate.unauthenticated, dict(gate.by_address)) == (0, {})
    assert dict(gate.unauthenticated_by_address) == {}
