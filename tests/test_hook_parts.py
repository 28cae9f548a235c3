"""Webhooks' parts, without a chat server: which addresses a hook may reach,
Standard Webhooks' signature, the retry schedule, the frames and the bodies
parsed, and the HTTP client against servers of the test's own (plain and
TLS; answering, redirecting, closing, silent)."""

from __future__ import annotations

import functools
import ipaddress
import json
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from chatroom import protocol
from chatroom.domain import ErrorCode
from chatroom.hooks.addresses import AddressRefused, is_public, may_reach
from chatroom.hooks.client import DeliveryFailed, post
from chatroom.hooks.deliveries import ANSWER_WITHIN, RETRY_DELAYS, Deliveries, next_attempt_ms
from chatroom.hooks.signing import is_secret_of, secret_hash, signature
from chatroom.store import Delivery, Store
from tests.certificates import make_certificate

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
        "169.254.169.254", "fe80::1", "fc00::1", "224.0.0.1", "ff0e::1", "240.0.0.1",
        "255.255.255.255", "0.0.0.0", "::", "192.0.2.1", "2001:db8::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1",
    ],
)  # fmt: skip
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert not may_reach(ipaddress.ip_address(address), ())


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_reached(address: str) -> None:
    assert may_reach(ipaddress.ip_address(address), ())


def test_the_operator_allows_networks() -> None:
    assert may_reach(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    assert may_reach(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK)  # (mapped: the same)
    assert not may_reach(ipaddress.ip_address("::1"), LOOPBACK)
    assert not may_reach(ipaddress.ip_address("10.0.0.1"), LOOPBACK)


def test_standard_webhooks_signature() -> None:
    # The example of the Standard Webhooks specification's own test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_url_secret_is_checked_against_its_hash() -> None:
    stored = secret_hash("s3cret")
    assert "s3cret" not in stored
    assert is_secret_of("s3cret", stored)
    assert not is_secret_of("s3cre", stored)


def test_retries_start_within_seconds_and_last_a_day() -> None:
    first = next_attempt_ms(1, 0)
    assert first is not None and first <= 10_000
    assert list(RETRY_DELAYS) == sorted(RETRY_DELAYS) and sum(RETRY_DELAYS) >= 24 * 3600
    assert next_attempt_ms(len(RETRY_DELAYS), 0) == 10 * 3600 * 1000
    assert next_attempt_ms(len(RETRY_DELAYS) + 1, 0) is None


def test_hook_frames_are_parsed() -> None:
    parse = protocol.parse_request
    assert parse('{"type":"hook","room":"ops","name":"ci"}') == protocol.AddHook("ops", "ci")
    target = "https://example.com:8443/in?x=1"
    added = parse(json.dumps({"type": "hook", "room": "ops", "name": "ci", "target": target}))
    assert added == protocol.AddHook("ops", "ci", target)
    assert parse('{"type":"hooks","room":"ops","ref":1}') == protocol.ListHooks("ops", 1)
    assert parse('{"type":"unhook","room":"ops","id":"abc"}') == protocol.RemoveHook("ops", "abc")
    assert protocol.url_parts(target) == (True, "example.com", 8443, "example.com:8443", "/in?x=1")
    assert protocol.url_parts("http://[::1]") == (False, "::1", 80, "[::1]", "/")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "hook", "room": "ops"},
        {"type": "hook", "room": "ops", "name": "a b"},
        {"type": "hook", "room": "ops", "name": "x" * 33},
        {"type": "hook", "room": "ops", "name": "ci", "target": 7},
        {"type": "hook", "room": "ops", "name": "ci", "target": "http://exa mple.com/"},
        {"type": "hook", "room": "ops", "name": "ci", "target": "http://example.com/\n"},
        {"type": "hook", "room": "ops", "name": "ci", "target": "http://ex\u00e4mple.com/"},
        {"type": "hook", "room": "bad room", "name": "ci"},
        {"type": "hooks"},
        {"type": "unhook", "room": "ops"},
    ],
)
def test_bad_hook_frames_are_refused(frame: dict[str, object]) -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse_request(json.dumps(frame))
    assert info.value.code == ErrorCode.BAD_REQUEST


def test_an_incoming_post_is_json_or_a_slack_form() -> None:
    assert protocol.hook_text(b'{"text":"hi \xe2\x98\x83"}', "application/json") == "hi \u2603"
    assert protocol.hook_text(b'{"text":"no type said"}', "") == "no type said"
    form = urllib.parse.urlencode({"payload": '{"text":"from slack","username":"x"}'})
    assert protocol.hook_text(form.encode(), "application/x-www-form-urlencoded") == "from slack"
    for body, media_type in [
        (b"text=hi", "application/x-www-form-urlencoded"),
        (b"payload=%ZZ", "application/x-www-form-urlencoded"),
        (b'{"text":""}', "application/json"),
        (b'{"text":"\\ud800"}', "application/json"),
        (b'["text"]', "application/json"),
        (b"\xff", "application/json"),
        (b"[" * 100_000, "application/json"),
        (json.dumps({"text": "x" * 4001}).encode(), "application/json"),
    ]:
        with pytest.raises(protocol.ProtocolError):
            protocol.hook_text(body, media_type)


# -- the client ---------------------------------------------------------------------

Answer = Callable[[trio.SocketStream], Awaitable[None]]


async def serve(nursery: trio.Nursery, answer: Answer, tls: ssl.SSLContext | None = None) -> int:
    """A server of the test's own on 127.0.0.1 answering each connection
    with `answer`; its port."""

    async def handler(stream: trio.SocketStream) -> None:
        try:
            if tls is None:
                await answer(stream)
                return
            tls_stream = trio.SSLStream(stream, tls, server_side=True)
            await tls_stream.do_handshake()
            await answer(tls_stream)  # type: ignore[arg-type]
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handler, 0)
    port: int = listeners[0].socket.getsockname()[1]
    return port


def answering(status: int, seen: list[bytes]) -> Answer:
    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while not request.endswith(b"{}"):
            request += await stream.receive_some(4096)
        seen.append(request)
        await stream.send_all(
            f"HTTP/1.1 {status} X\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n".encode()
        )

    return answer


async def test_the_client_posts_and_never_follows_a_redirect(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []
    port = await serve(nursery, answering(307, seen))
    status = await post(f"http://127.0.0.1:{port}/in?a=1", b"{}", [("x", "y")], allowed=LOOPBACK)
    assert status == 307 and len(seen) == 1
    head = seen[0].split(b"\r\n")
    assert head[0] == b"POST /in?a=1 HTTP/1.1"
    assert f"host: 127.0.0.1:{port}".encode() in [line.lower() for line in head]
    assert b"x: y" in head


async def test_the_client_refuses_what_it_may_not_reach(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []
    port = await serve(nursery, answering(204, seen))
    with pytest.raises(AddressRefused):
        await post(f"http://127.0.0.1:{port}/", b"{}", [], allowed=())
    with pytest.raises(AddressRefused):
        await post(f"http://localhost:{port}/", b"{}", [], allowed=())
    assert seen == []


async def test_the_client_fails_without_an_answer(nursery: trio.Nursery) -> None:
    async def close_at_once(stream: trio.SocketStream) -> None:
        await stream.receive_some(10)

    port = await serve(nursery, close_at_once)
    with pytest.raises(DeliveryFailed):
        await post(f"http://127.0.0.1:{port}/", b"{}", [], allowed=LOOPBACK)
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        free = unused.getsockname()[1]
    with pytest.raises(DeliveryFailed):  # refused
        await post(f"http://127.0.0.1:{free}/", b"{}", [], allowed=LOOPBACK)


async def test_the_client_speaks_tls_and_checks_the_certificate(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    cert, key = make_certificate(tmp_path, "target")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    seen: list[bytes] = []
    port = await serve(nursery, answering(202, seen), tls=server_side)
    trusting = ssl.create_default_context()
    trusting.load_verify_locations(cert)
    url = f"https://127.0.0.1:{port}/secure"
    assert await post(url, b"{}", [], allowed=LOOPBACK, tls=trusting) == 202
    with pytest.raises(DeliveryFailed):  # not an authority the system trusts
        await post(url, b"{}", [], allowed=LOOPBACK)
    assert len(seen) == 1


async def test_a_target_that_never_answers_is_given_up_after_15_s(
    nursery: trio.Nursery, sqlite_store: Store, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    port = await serve(nursery, silent)
    deliveries = Deliveries(store=sqlite_store, allowed=LOOPBACK)
    delivery = Delivery("msg_1", "h", f"http://127.0.0.1:{port}/", "whsec_AAAA", "{}", 0, 0)
    started = trio.current_time()
    status, failure = await deliveries._post(delivery)
    assert (status, failure) == (None, "no answer within 15 s")
    assert trio.current_time() - started == pytest.approx(ANSWER_WITHIN)
