"""The web client's connection: a message sent into a dead connection arrives
once, and Log out ends the session on the server (issue 10, items 6 and 10)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, WebSocketRoute, expect

from tests.blackbox import (
    RunningServer,
    close_code,
    connect_ws,
    hello,
    send,
    start_server,
    stop_server,
)
from tests.browser import (
    join,
    joined,
    launch_browser,
    members,
    messages,
    new_context,
    open_page,
    say,
    sign_up,
    skip_without_chromium,
    status,
    stored_texts,
    token_of,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")


def test_a_message_sent_to_a_frozen_server_arrives_once(
    context: BrowserContext, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "data")
    page = open_page(context, server)
    sign_up(page, "ivan")
    join(page, "ops")
    say(page, "before")
    expect(messages(page).locator(".message:not(.pending)", has_text="before")).to_be_visible()

    text = "typed while the server was frozen"
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        say(page, text)
        unsent = page.locator(".pending", has_text=text)
        expect(unsent).to_contain_text("Sending…")
        # The page notices the silence (its ping goes unanswered) ...
        expect(status(page)).not_to_have_text("connected", timeout=20000)
        # ... and says the message has not gone, offering to try again.
        expect(unsent).to_contain_text("Not sent")
        expect(unsent.get_by_role("button", name="Retry")).to_be_visible()
    finally:
        server.process.kill()  # SIGKILL: whatever it had read is lost
        server.process.wait()

    server = start_server(server.data_dir, port=server.port)
    try:
        expect(status(page)).to_have_text("connected", timeout=20000)
        sent = messages(page).locator(".message:not(.pending)", has_text=text)
        expect(sent).to_have_count(1, timeout=10000)
        expect(page.locator(".pending")).to_have_count(0)
        # Someone else sees it, once; so does the store.
        other = hello(server, "judy")
        assert [m["text"] for m in joined(other, "ops")["history"]].count(text) == 1
        other.close()
        assert stored_texts(server, token_of(page), "ops").count(text) == 1
        expect(sent).to_have_count(1)
    finally:
        assert stop_server(server) == 0


def test_unsent_messages_survive_a_reload(context: BrowserContext, server: RunningServer) -> None:
    # Every WebSocket of the page goes through here: to the server while
    # `online`, else nowhere (it opens, and nothing ever answers).
    online = True
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        if online:
            ws.connect_to_server()

    context.route_web_socket(re.compile(r"/ws$"), route)
    page = open_page(context, server)
    sign_up(page, "lena")
    join(page, "lobby")
    expect(members(page).get_by_text("lena")).to_be_visible()
    online = False
    sockets.pop().close()
    expect(status(page)).not_to_have_text("connected")
    say(page, "written offline")
    unsent = page.locator(".pending", has_text="written offline")
    expect(unsent).to_be_visible()

    page.reload()
    expect(unsent).to_be_visible()
    online = True
    sockets.pop().close()  # the page tries again at once
    sent = messages(page).locator(".message:not(.pending)", has_text="written offline")
    expect(sent).to_have_count(1)
    expect(unsent).to_have_count(0)
    assert stored_texts(server, token_of(page), "lobby") == ["written offline"]


def test_log_out_ends_the_session_on_the_server(
    context: BrowserContext, server: RunningServer
) -> None:
    page = open_page(context, server)
    sign_up(page, "karl")
    join(page, "lobby")
    token = token_of(page)
    second = open_page(context, server)  # another tab: the same session
    expect(second.get_by_role("button", name="Log out")).to_be_visible()
    expect(status(second)).to_have_text("connected")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(second.get_by_role("button", name="Log in")).to_be_visible()
    ws = connect_ws(server)
    send(ws, type="hello", token=token)
    assert close_code(ws) == 4401
    assert server.http("GET", "/api/rooms", token=token)[0] == 401
