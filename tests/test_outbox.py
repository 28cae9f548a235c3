"""Outbox: who gets which bytes of a batch."""

from __future__ import annotations

from chatroom.rooms.outbox import Outbox


def collect() -> tuple[dict[str, list[bytes]], dict[str, object]]:
    got: dict[str, list[bytes]] = {"a": [], "b": [], "c": []}

    def deliver_to(name: str) -> object:
        def deliver(data: bytes) -> bool:
            got[name].append(data)
            return name != "c"

        return deliver

    return got, {name: deliver_to(name) for name in got}


def test_plain_broadcast_is_one_shared_write() -> None:
    got, members = collect()
    outbox: Outbox[str] = Outbox()
    outbox.broadcast(b"1")
    outbox.broadcast(b"2")
    assert outbox.size == 2
    refused = outbox.deliver(members)  # type: ignore[arg-type]
    assert refused == ["c"]
    assert got == {"a": [b"12"], "b": [b"12"], "c": [b"12"]}
    assert not outbox


def test_views_for_own_copies_replies_and_late_joiners() -> None:
    got, members = collect()
    outbox: Outbox[str] = Outbox()
    outbox.broadcast(b"m1")
    outbox.replace_last("a", b"m1+ref")
    outbox.start_here("b")
    outbox.send_to("b", b"joined")
    outbox.broadcast(b"presence")
    outbox.send_to("a", b"reply")
    outbox.deliver(members)  # type: ignore[arg-type]
    assert got["a"] == [b"m1+refpresencereply"]
    assert got["b"] == [b"joinedpresence"]
    assert got["c"] == [b"m1presence"]


def test_take_hands_over_what_is_owed_so_far() -> None:
    got, members = collect()
    outbox: Outbox[str] = Outbox()
    outbox.broadcast(b"x")
    outbox.send_to("a", b"reply")
    assert outbox.take("a") == b"xreply"
    outbox.broadcast(b"y")
    del members["a"]
    outbox.deliver(members)  # type: ignore[arg-type]
    assert got == {"a": [], "b": [b"xy"], "c": [b"xy"]}
