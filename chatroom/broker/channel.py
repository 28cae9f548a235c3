"""The event channel, read straight off a connection of its own.

Every event every server publishes reaches every server, so reading them is
the one path from Redis that grows with the cluster: through coredis's
general client (anyio tasks, a timeout, a capacity limiter and a dict for
each push) it took a worker of `--workers 4` about 9% of its CPU. Here a
subscribed connection is a socket and a RESP2 parser (the replies a
subscriber gets are arrays, bulk strings, integers and errors); commands go
through coredis as before, which also parses the URL, so that both
connections reach the same Redis the same way.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import attrs
import trio

MAX_EVENT_BYTES = 64 * 1024 * 1024  # a bulk string beyond this is not Redis talking
READ_SIZE = 256 * 1024


class RespError(Exception):
    """Redis answered with an error, or with what is not RESP2."""


# What a reply is: bytes (bulk string), str (simple string), int, None (null),
# RespError (an error reply) or a list of these.
Reply = Any


class _Incomplete(Exception):
    """More bytes are needed."""


class RespParser:
    """RESP2 replies from bytes as they come; sans-IO."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._at = 0

    def feed(self, data: bytes | bytearray) -> None:
        if self._at:
            del self._buffer[: self._at]
            self._at = 0
        self._buffer += data

    def next_reply(self) -> tuple[bool, Reply]:
        """(True, the next whole reply), or (False, None) until more is fed."""
        try:
            reply, end = self._parse(self._at)
        except _Incomplete:
            return False, None
        self._at = end
        return True, reply

    def _line(self, start: int) -> tuple[bytes, int]:
        end = self._buffer.find(b"\r\n", start)
        if end < 0:
            if len(self._buffer) - start > 64 * 1024:
                raise RespError("a reply line without an end")
            raise _Incomplete
        return bytes(self._buffer[start:end]), end + 2

    def _parse(self, start: int) -> tuple[Reply, int]:
        line, at = self._line(start)
        if not line:
            raise RespError("an empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            size = _number(rest)
            if size < 0:
                return None, at
            if size > MAX_EVENT_BYTES:
                raise RespError(f"a bulk string of {size} bytes")
            if len(self._buffer) < at + size + 2:
                raise _Incomplete
            if self._buffer[at + size : at + size + 2] != b"\r\n":
                raise RespError("a bulk string without its end")
            return bytes(self._buffer[at : at + size]), at + size + 2
        if kind == b"*":
            count = _number(rest)
            if count < 0:
                return None, at
            items = []
            for _ in range(count):
                item, at = self._parse(at)
                items.append(item)
            return items, at
        if kind == b":":
            return _number(rest), at
        if kind == b"+":
            return rest.decode(errors="replace"), at
        if kind == b"-":
            return RespError(rest.decode(errors="replace")), at
        raise RespError(f"not a RESP2 reply: {line[:40]!r}")


def _number(digits: bytes) -> int:
    try:
        return int(digits)
    except ValueError:
        raise RespError(f"not a number: {digits[:40]!r}") from None


def encode_command(*words: str | bytes) -> bytes:
    """A command as RESP2: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode() if isinstance(word, str) else word
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@attrs.frozen
class Where:
    """Where Redis is and how to log in, as coredis parsed the URL."""

    host: str | None = None
    port: int = 6379
    path: str | None = None  # a Unix socket
    username: str | None = None
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def of_pool(cls, location: object, options: dict[str, Any]) -> Where:
        """From a coredis ConnectionPool's `location` and `connection_kwargs`."""
        return cls(
            host=getattr(location, "host", None),
            port=getattr(location, "port", 6379),
            path=getattr(location, "path", None),
            username=options.get("username"),
            password=options.get("password"),
            ssl_context=options.get("ssl_context"),
        )


class Subscription:
    """One channel's messages, from a connection subscribed to it alone."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._parser = RespParser()

    async def command(self, *words: str | bytes) -> Reply:
        """Send a command and read its reply (before subscribing)."""
        await self._stream.send_all(encode_command(*words))
        reply = await self._reply()
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def _reply(self) -> Reply:
        while True:
            whole, reply = self._parser.next_reply()
            if whole:
                return reply
            data = await self._stream.receive_some(READ_SIZE)
            if not data:
                raise ConnectionError("the subscription ended")
            self._parser.feed(data)

    async def messages(self) -> AsyncIterator[bytes]:
        """What is published on the channel, in order; ends never (the
        connection closing raises ConnectionError)."""
        while True:
            reply = await self._reply()
            if isinstance(reply, RespError):
                raise reply
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                data = reply[2]
                if isinstance(data, bytes):
                    yield data


@contextlib.asynccontextmanager
async def subscribed(
    where: Where, channel: str, *, connect_timeout: float
) -> AsyncIterator[Subscription]:
    """A connection to Redis subscribed to `channel` (connecting, logging in
    and subscribing within `connect_timeout` seconds), closed on leaving."""
    with trio.fail_after(connect_timeout):
        stream: trio.abc.Stream
        if where.path is not None:
            stream = await trio.open_unix_socket(where.path)
        else:
            assert where.host is not None
            stream = await trio.open_tcp_stream(where.host, where.port)
            if where.ssl_context is not None:
                stream = trio.SSLStream(stream, where.ssl_context, server_hostname=where.host)
    async with stream:
        subscription = Subscription(stream)
        with trio.fail_after(connect_timeout):
            if where.password is not None:
                login = [where.username] if where.username else []
                await subscription.command("AUTH", *login, where.password)
            confirmed = await subscription.command("SUBSCRIBE", channel)
        if not (isinstance(confirmed, list) and confirmed[:1] == [b"subscribe"]):
            raise RespError(f"SUBSCRIBE answered {confirmed!r}")
        yield subscription
