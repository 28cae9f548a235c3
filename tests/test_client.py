"""chatroom.client against a real server: through a proxy of the test's own
that cuts the link or silently swallows its traffic while messages flow
(each arrives once, in order; each send is stored once), rate limits waited
out, a refused token, and the blocking wrapper for scripts."""

from __future__ import annotations

from pathlib import Path

import trio

from chatroom.client import Client, Mention, Message, Reactions, Unauthorized, connect
from tests.blackbox import RunningServer, start_server, stop_server
from tests.tcp_proxy import TcpProxy

COUNT = 40
QUICK = {"ping_every": 0.5, "dead_after": 1.0, "backoff_max": 0.5}


async def texts_received(chat: Client, count: int) -> list[str]:
    texts: list[str] = []
    with trio.fail_after(30):
        async for event in chat.events():
            if isinstance(event, Message):
                texts.append(event.text)
                if len(texts) == count:
                    return texts
    return texts


async def steadily_send(chat: Client, room: str, proxy: TcpProxy, swallow: bool) -> None:
    """40 messages; the proxy breaks the receiver's link three times meanwhile."""
    for i in range(COUNT):
        await chat.send(room, f"m{i}")
        await trio.sleep(0.03)
        if i % 10 == 9 and i < COUNT - 1:
            if swallow:
                proxy.swallowing = True
                await trio.sleep(2.0)  # past the receiver's ping deadline
                proxy.swallowing = False
            else:
                proxy.cut()


async def test_every_message_once_in_order_across_cuts_and_silences(
    fast_server: RunningServer, nursery: trio.Nursery
) -> None:
    for swallow in (False, True):
        proxy = TcpProxy(fast_server.port)
        await nursery.start(proxy.run)
        room = f"feed-{swallow}"
        async with (
            Client(proxy.ws_url, fast_server.token("reader"), **QUICK) as reader,
            Client(fast_server.ws_url, fast_server.token("writer")) as writer,
        ):
            await reader.join(room)
            await writer.join(room)
            async with trio.open_nursery() as sending:
                sending.start_soon(steadily_send, writer, room, proxy, swallow)
                assert await texts_received(reader, COUNT) == [f"m{i}" for i in range(COUNT)]
            assert reader.connections >= 2  # (a break may fall while it reconnects)


async def test_a_long_absence_is_read_back_page_by_page(
    fast_server: RunningServer, nursery: trio.Nursery
) -> None:
    """More came while away than `joined` holds (1,000): paged back, then
    what came meanwhile, each once, in order; and an application that took
    no events for as long gets them all too."""
    proxy = TcpProxy(fast_server.port)
    await nursery.start(proxy.run)
    async with (
        Client(proxy.ws_url, fast_server.token("reader"), **QUICK) as reader,
        Client(fast_server.ws_url, fast_server.token("writer")) as writer,
    ):
        await reader.join("busy")
        await writer.join("busy")
        proxy.swallowing = True  # away: silent, and no new link gets through
        proxy.cut()
        for i in range(1300):
            await writer.send("busy", f"b{i}")
        proxy.swallowing = False
        for i in range(1300, 1310):  # while it catches up
            await writer.send("busy", f"b{i}")
        with trio.fail_after(60):
            assert await texts_received(reader, 1310) == [f"b{i}" for i in range(1310)]
            # The writer read none of its own meanwhile: more than its buffer
            # holds, left with the server and read again now.
            assert await texts_received(writer, 1310) == [f"b{i}" for i in range(1310)]


async def test_sends_through_a_cut_link_are_stored_once(
    fast_server: RunningServer, nursery: trio.Nursery
) -> None:
    proxy = TcpProxy(fast_server.port)
    await nursery.start(proxy.run)
    token = fast_server.token("sender")
    async with Client(proxy.ws_url, token, **QUICK) as chat:
        await chat.join("once")

        async def cut_now_and_then() -> None:
            for _ in range(5):
                await trio.sleep(0.05)
                proxy.cut()

        async with trio.open_nursery() as cutting:
            cutting.start_soon(cut_now_and_then)
            ids = [(await chat.send("once", f"s{i}")).id for i in range(COUNT)]
        assert ids == sorted(ids) and len(set(ids)) == COUNT
    status, body, _ = await trio.to_thread.run_sync(
        fast_server.http, "GET", "/api/rooms/once/messages?limit=200", token
    )
    assert status == 200
    assert [m["text"] for m in body["messages"]] == [f"s{i}" for i in range(COUNT)]


async def test_rate_limits_are_waited_out(tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(
        lambda: start_server(tmp_path / "data", "--send-rate", "10")
    )
    try:
        async with Client(server.ws_url, server.token("hasty")) as chat:
            await chat.join("slow")
            sent = [await chat.send("slow", f"n{i}") for i in range(40)]  # 20 at once, 10/s
            assert [m.text for m in sent] == [f"n{i}" for i in range(40)]
    finally:
        assert await trio.to_thread.run_sync(stop_server, server) == 0


async def test_a_refused_token_is_said_not_retried(fast_server: RunningServer) -> None:
    try:
        async with Client(fast_server.ws_url, "not-a-token"):
            raise AssertionError("connected")
    except Unauthorized as refused:
        assert refused.code == "unauthorized"


def test_the_blocking_client_for_scripts(fast_server: RunningServer) -> None:
    with (
        connect(fast_server.ws_url, fast_server.token("script")) as chat,
        connect(fast_server.ws_url, fast_server.token("other")) as other,
    ):
        chat.join("scripts")
        other.join("scripts")
        sent = other.send("scripts", "hello from a script")
        while not isinstance(event := chat.receive(5), Message):
            assert event is not None
        assert (event.id, event.user, event.text) == (sent.id, "other", "hello from a script")
        assert chat.receive(0.2) is None


async def test_replies_reactions_and_mentions(fast_server: RunningServer) -> None:
    async with (
        Client(fast_server.ws_url, fast_server.token("asker")) as asker,
        Client(fast_server.ws_url, fast_server.token("helper")) as helper,
    ):
        await asker.join("help")
        await helper.join("help")
        question = await asker.send("help", "anyone? @helper")
        answer = await helper.send("help", "here", reply_to=question.id)
        assert answer.reply_to == question.id
        await helper.react("help", question.id, "👀")
        heard: list[object] = []
        with trio.fail_after(10):
            async for event in helper.events():
                if isinstance(event, Mention | Reactions):
                    heard.append(event)
                if len(heard) == 2:
                    break
        assert heard == [
            Mention("help", question.id, "asker"),
            Reactions("help", question.id, {"👀": ("helper",)}),
        ]
