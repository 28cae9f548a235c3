"""The web client in a real headless Chromium (Debian's, driven by Playwright),
against `python -m chatroom` in a subprocess."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.blackbox import RunningServer, hello, receive_until, send, start_server, stop_server
from tests.browser import (
    join,
    launch_browser,
    members,
    messages,
    new_context,
    open_page,
    say,
    sign_up,
    skip_without_chromium,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")


def test_two_people_chat_in_two_browsers(browser: Browser, server: RunningServer) -> None:
    alice_context = browser.new_context(viewport={"width": 1100, "height": 700})
    bob_context = browser.new_context(viewport={"width": 1100, "height": 700})
    alice, bob = open_page(alice_context, server), open_page(bob_context, server)
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    join(alice, "lobby")
    join(bob, "lobby")
    expect(members(alice).get_by_text("bob")).to_be_visible()
    expect(members(bob).get_by_text("alice")).to_be_visible()

    say(alice, "Hi Bob! Lunch at noon?")
    expect(messages(bob).get_by_text("Hi Bob! Lunch at noon?")).to_be_visible()
    say(bob, "Sure,\nsee you there")  # Shift+Enter is tested below; fill keeps the newline
    expect(messages(alice).get_by_text("see you there")).to_be_visible()
    expect(alice.locator(".message.own")).to_have_count(1)

    hostile = "<img src=x onerror=alert(document.domain)> <b>bold?</b>"
    say(alice, hostile)
    expect(messages(bob).get_by_text(hostile)).to_be_visible()
    assert bob.locator(".messages img, .messages b").count() == 0

    composer = bob.get_by_label("Message", exact=True)
    composer.fill("first line")
    composer.press("Shift+Enter")
    composer.type("second line")
    expect(composer).to_have_value("first line\nsecond line")
    composer.press("Enter")
    expect(messages(alice).get_by_text("second line")).to_be_visible()

    # A reload keeps alice logged in, in her room, with its history.
    alice.reload()
    expect(alice.get_by_role("button", name="Log out")).to_be_visible()
    expect(messages(alice).get_by_text("Hi Bob! Lunch at noon?")).to_be_visible()
    expect(messages(alice).get_by_text("second line")).to_be_visible()

    # A closed tab drops out of Members ("bob left" waits a minute: he may
    # be back by then; tests/test_browser_catch_up.py).
    bob_context.close()
    expect(members(alice).get_by_text("bob")).to_have_count(0)
    alice_context.close()


def test_page_reconnects_after_a_restart_and_misses_nothing(
    context: BrowserContext, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    port = server.port
    page = open_page(context, server)
    sign_up(page, "carol")
    join(page, "ops")
    say(page, "before the restart")
    expect(messages(page).get_by_text("before the restart")).to_be_visible()

    assert stop_server(server) == 0
    expect(page.get_by_role("status")).to_have_text(re.compile("reconnecting|connecting"))
    server = start_server(data_dir, port=port)
    try:
        # Sent by someone else while the page may still be away.
        other = hello(server, "dave")
        send(other, type="join", room="ops")
        receive_until(other, "joined")
        send(other, type="send", room="ops", text="sent meanwhile")
        receive_until(other, "message")
        expect(page.get_by_role("status")).to_have_text("connected", timeout=15000)
        expect(messages(page).get_by_text("sent meanwhile")).to_have_count(1)
        expect(messages(page).get_by_text("before the restart")).to_have_count(1)
        say(page, "after the restart")
        assert receive_until(other, "message")["text"] == "after the restart"
        other.close()
    finally:
        assert stop_server(server) == 0


def test_narrow_screen_and_the_length_counter(browser: Browser, server: RunningServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = open_page(context, server)
    sign_up(page, "erin")
    join(page, "mobile")
    say(page, "hello from a phone")
    expect(messages(page).get_by_text("hello from a phone")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_label("Message", exact=True).fill("x" * 3950)
    expect(page.get_by_text("50 characters left")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    context.close()


def test_wrong_password_is_said_in_words(context: BrowserContext, server: RunningServer) -> None:
    page = open_page(context, server)
    sign_up(page, "frank")
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("frank")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").first).to_have_text(
        re.compile("invalid username or password", re.I)
    )


def test_static_files_have_types_caching_and_a_strict_policy(server: RunningServer) -> None:
    import http.client

    for path, content_type in [
        ("/", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/protocol.js", "text/javascript"),
        ("/static/messages.js", "text/javascript"),
        ("/static/app.css", "text/css"),
    ]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith(content_type)
        policy = response.getheader("Content-Security-Policy", "")
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        etag = response.getheader("ETag")
        conn.request("GET", path, headers={"If-None-Match": etag or ""})
        again = conn.getresponse()
        again.read()
        assert again.status == 304
        conn.close()
    assert server.http("GET", "/static/../secret.key")[0] == 404


def test_older_messages_load_at_the_top_and_unread_counts(
    context: BrowserContext, fast_server: RunningServer
) -> None:
    server = fast_server
    writer = hello(server, "writer")
    send(writer, type="join", room="archive")
    receive_until(writer, "joined")
    for i in range(120):
        send(writer, type="send", room="archive", text=f"archived message {i:03d}")
    for _ in range(120):
        receive_until(writer, "message")

    page = open_page(context, server)
    sign_up(page, "grace")
    join(page, "archive")
    expect(messages(page).get_by_text("archived message 119")).to_be_visible()
    expect(page.locator(".message")).to_have_count(50)
    for expected in (100, 120):
        page.locator("#scroller").evaluate("node => { node.scrollTop = 0; }")
        expect(page.locator(".message")).to_have_count(expected)
    expect(page.get_by_text("The beginning of this room.")).to_be_visible()
    expect(messages(page).get_by_text("archived message 000")).to_be_attached()

    join(page, "elsewhere")
    send(writer, type="send", room="archive", text="while grace looks elsewhere")
    expect(page.get_by_label("1 unread")).to_be_visible()
    page.get_by_role("button", name="# archive").first.click()
    expect(messages(page).get_by_text("while grace looks elsewhere")).to_be_visible()
    expect(page.get_by_label("1 unread")).to_have_count(0)
    writer.close()
