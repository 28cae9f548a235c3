"""The event channel's own reader: RESP2 parsed without sockets, then a real
redis-server, with a password and over TLS, through the broker."""

from __future__ import annotations

from pathlib import Path

import coredis
import pytest
import trio

from chatroom.broker.channel import (
    MAX_EVENT_BYTES,
    RespError,
    RespParser,
    Where,
    encode_command,
    subscribed,
)
from chatroom.cluster.events import MessagesEvent
from chatroom.domain import ChatMessage
from tests.certificates import make_certificate
from tests.redis import RedisServer
from tests.test_broker import start_node

PUSH = b"*3\r\n$7\r\nmessage\r\n$6\r\nevents\r\n$12\r\nhello\r\nthere\r\n"


def replies(parser: RespParser) -> list[object]:
    found: list[object] = []
    while True:
        whole, reply = parser.next_reply()
        if not whole:
            return found
        found.append(reply)


def test_a_push_split_anywhere_is_one_reply() -> None:
    stream = PUSH + b"+OK\r\n:42\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n"
    expected = [
        [b"message", b"events", b"hello\r\nthere"],
        "OK",
        42,
        None,
        None,
        [[1], b""],
    ]
    for cut in range(len(stream) + 1):
        parser = RespParser()
        parser.feed(stream[:cut])
        got = replies(parser)
        parser.feed(stream[cut:])
        assert got + replies(parser) == expected
    byte_at_a_time = RespParser()
    got = []
    for i in range(len(stream)):
        byte_at_a_time.feed(stream[i : i + 1])
        got += replies(byte_at_a_time)
    assert got == expected


def test_an_error_reply_is_a_value_and_garbage_is_refused() -> None:
    parser = RespParser()
    parser.feed(b"-NOAUTH Authentication required.\r\n")
    [error] = replies(parser)
    assert isinstance(error, RespError) and "NOAUTH" in str(error)
    for garbage in (
        b"?what\r\n",
        b"$abc\r\n",
        b"\r\n",
        b"$3\r\nabcXY",
        b"$%d\r\n" % (MAX_EVENT_BYTES + 1),
        b"$" + b"9" * 70000,
    ):
        parser = RespParser()
        parser.feed(garbage)
        with pytest.raises(RespError):
            parser.next_reply()


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert encode_command("AUTH", b"p\xc3\xa9") == b"*2\r\n$4\r\nAUTH\r\n$3\r\np\xc3\xa9\r\n"


async def test_a_subscription_gets_what_is_published_in_order(redis: RedisServer) -> None:
    where = Where(host="127.0.0.1", port=redis.port)
    publisher = coredis.Redis.from_url(redis.url)
    async with subscribed(where, "chan", connect_timeout=5) as subscription, publisher:
        for i in range(200):
            await publisher.publish("chan", f"event {i}" * (i % 7))
        received = []
        with trio.fail_after(5):
            async for data in subscription.messages():
                received.append(data)
                if len(received) == 200:
                    break
    assert received == [(f"event {i}" * (i % 7)).encode() for i in range(200)]


async def test_a_wrong_password_is_an_error_not_a_subscription(tmp_path: Path) -> None:
    redis = RedisServer.create(password="right")
    try:
        with pytest.raises(RespError, match=r"WRONGPASS|invalid"):
            async with subscribed(
                Where(host="127.0.0.1", port=redis.port, password="wrong"), "c", connect_timeout=5
            ):
                pass
    finally:
        redis.destroy()


@pytest.mark.parametrize("secured", ["password", "tls"])
async def test_nodes_exchange_events_with_a_password_and_over_tls(
    nursery: trio.Nursery, tmp_path: Path, secured: str
) -> None:
    if secured == "tls":
        redis = RedisServer.create(certificate=make_certificate(tmp_path, "redis"))
    else:
        redis = RedisServer.create(password="s3cret")
    try:
        first, _, first_scope = await start_node(nursery, redis.url)
        _, seen, second_scope = await start_node(nursery, redis.url)
        assert first.state == "connected"
        message = ChatMessage("Lobby", 1, "ann", "hi", 100)
        first.publish(MessagesEvent("Lobby", (message,)))
        await seen.until(lambda: seen.messages == [message])
        first_scope.cancel()
        second_scope.cancel()
    finally:
        redis.destroy()
