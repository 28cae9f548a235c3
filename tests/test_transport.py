"""SocketTransport over a real socket pair: ordering, flushing, overflow."""

from __future__ import annotations

import socket

import trio
import trio.testing

from chatroom.net.transport import SocketTransport
from chatroom.net.wsframe import text_frame


def small_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    theirs.setblocking(False)
    return ours, theirs


def read_available(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


async def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        await trio.lowlevel.wait_readable(sock)
        data += read_available(sock)
    return data


async def test_offers_and_send_all_arrive_whole_and_in_order(nursery: trio.Nursery) -> None:
    ours, theirs = small_pair()
    transport = SocketTransport(ours, max_pending=10 * 1024 * 1024, writer_nursery=nursery)
    chunks = [bytes([i % 251]) * (1000 + i) for i in range(300)]
    expected = b""
    for i, chunk in enumerate(chunks):
        if i % 50 == 25:
            nursery.start_soon(transport.send_all, b"<control>")
            await trio.testing.wait_all_tasks_blocked()
            expected += b"<control>"
        assert transport.offer(chunk)
        expected += chunk
    assert transport.pending_bytes > 0  # the kernel did not take it all at once
    assert await read_exactly(theirs, len(expected)) == expected
    await trio.testing.wait_all_tasks_blocked()
    assert transport.pending_bytes == 0


async def test_overflow_keeps_the_write_in_progress_and_refuses_the_rest(
    nursery: trio.Nursery,
) -> None:
    ours, theirs = small_pair()
    overflows = []
    transport = SocketTransport(
        ours,
        max_pending=64 * 1024,
        on_overflow=lambda: overflows.append(1),
        writer_nursery=nursery,
    )
    frames = [text_frame(f"{i:05d}" + "x" * 995) for i in range(200)]
    accepted = 0
    for frame in frames:
        if not transport.offer(frame):
            break
        accepted += 1
    assert overflows == [1]
    assert transport.overflowed
    assert not transport.offer(frames[-1])
    # A close frame queued now still follows whole frames.
    nursery.start_soon(transport.send_all, b"\x88\x02\x03\xf5")
    await trio.testing.wait_all_tasks_blocked()
    received = b""
    while not received.endswith(b"\x88\x02\x03\xf5"):
        await trio.lowlevel.wait_readable(theirs)
        received += read_available(theirs)
    body = received[:-4]
    frame_size = len(frames[0])
    assert len(body) % frame_size == 0
    delivered = len(body) // frame_size
    assert 0 < delivered < accepted
    assert body == b"".join(frames[:delivered])


async def test_replayed_bytes_come_first() -> None:
    ours, theirs = socket.socketpair()
    transport = SocketTransport(ours, max_pending=1024)
    theirs.sendall(b"world")
    transport.replay_first(b"hello ")
    assert await transport.receive_some(3) == b"hel"
    assert await transport.receive_some() == b"lo "
    assert await transport.receive_some() == b"world"
    theirs.close()
    assert await transport.receive_some() == b""
    await transport.aclose()


async def test_a_reset_peer_breaks_sends_without_raising_from_offer(nursery: trio.Nursery) -> None:
    ours, theirs = small_pair()
    transport = SocketTransport(ours, max_pending=1 << 20, writer_nursery=nursery)
    theirs.close()
    assert not transport.offer(b"x" * 100_000)
    assert not transport.offer(b"y")
    try:
        await transport.send_all(b"z")
    except trio.BrokenResourceError:
        pass
    else:
        raise AssertionError("send_all to a closed peer succeeded")


async def test_overflow_keeps_writes_made_through_send_all(nursery: trio.Nursery) -> None:
    ours, theirs = small_pair()
    transport = SocketTransport(ours, max_pending=16 * 1024, writer_nursery=nursery)
    frames = [text_frame(f"{i:05d}" + "x" * 995) for i in range(100)]
    for frame in frames[:10]:
        assert transport.offer(frame)
    pong = b"\x8a\x00"
    done = trio.Event()

    async def send_pong() -> None:
        await transport.send_all(pong)
        done.set()

    nursery.start_soon(send_pong)
    await trio.testing.wait_all_tasks_blocked()
    while transport.offer(frames[10]):
        pass
    assert transport.overflowed
    received = b""
    with trio.fail_after(5):
        while not received.endswith(pong):
            await trio.lowlevel.wait_readable(theirs)
            received += read_available(theirs)
        await done.wait()
    # Whole frames, then the pong: nothing cut, the pong not lost.
    assert len(received[: -len(pong)]) % len(frames[0]) == 0


async def test_one_write_larger_than_the_limit_overflows_on_a_frame_boundary(
    nursery: trio.Nursery,
) -> None:
    ours, theirs = small_pair()
    transport = SocketTransport(ours, max_pending=32 * 1024, writer_nursery=nursery)
    batch = b"".join(text_frame("y" * 1000) for _ in range(100))  # about 100 KB at once
    assert not transport.offer(batch)
    assert transport.overflowed
    assert transport.pending_bytes > 0  # the part-sent write is still going out
    nursery.start_soon(transport.send_all, b"\x88\x02\x03\xf5")
    received = b""
    while not received.endswith(b"\x88\x02\x03\xf5"):
        await trio.lowlevel.wait_readable(theirs)
        received += read_available(theirs)
    assert received[:-4] == batch
