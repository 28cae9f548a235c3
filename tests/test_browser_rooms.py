"""The web client's rooms: they belong to the account, a leave while offline
sticks, and reconnects add no presence lines (issue 10, items 4, 8 and 9)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.blackbox import RunningServer, hello, receive_until, send, start_server, stop_server
from tests.browser import (
    join,
    joined,
    launch_browser,
    log_in,
    members,
    messages,
    new_context,
    open_page,
    post,
    register,
    restart,
    say,
    sign_up,
    skip_without_chromium,
    status,
    token_of,
    welcome,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")


def test_your_rooms_come_with_you_to_a_new_browser(browser: Browser, server: RunningServer) -> None:
    # kate joins three rooms elsewhere (a bot, another device) and goes away;
    # three messages come in ops meanwhile.
    token = register(server, "kate")
    ws = hello(server, "kate", token)
    for room in ("general", "dev", "ops"):
        joined(ws, room)
    ws.close()
    bob = hello(server, "bob")
    while any(m["user"] == "kate" for m in joined(bob, "ops")["members"]):
        time.sleep(0.05)  # kate's connection is still leaving
    post(bob, "ops", "one", "two", "three")
    joined(bob, "Lounge")
    bob.close()

    context = browser.new_context(viewport={"width": 1100, "height": 700})
    page = open_page(context, server)
    log_in(page, "kate")
    rooms = your_rooms(page)
    for room in ("general", "dev", "ops"):
        expect(rooms.get_by_role("button", name=f"# {room}")).to_be_visible()
    expect(rooms.get_by_label("3 unread")).to_be_visible()
    expect(members(page).get_by_text("kate")).to_be_visible()  # the open room is joined
    rooms.get_by_role("button", name="# ops").click()
    expect(messages(page).get_by_text("three")).to_be_visible()
    expect(rooms.get_by_label("3 unread")).to_have_count(0)

    # Room names in any case are one room, spelled as the server spells it.
    for typed in ("#LOUNGE", "lounge"):
        page.get_by_label("Room", exact=True).fill(typed)
        page.get_by_role("button", name="Join").click()
        expect(page.get_by_role("heading", name="# Lounge", exact=True)).to_be_visible()
        expect(rooms.get_by_role("listitem")).to_have_count(4)

    # Left on another device: gone here at the next connection.
    other = hello(server, "kate", token)
    send(other, type="leave", room="dev")
    assert receive_until(other, "left")["room"] == "dev"
    other.close()
    page.reload()
    expect(status(page)).to_have_text("connected")
    expect(rooms.get_by_role("button", name="# general")).to_be_visible()
    expect(rooms.get_by_role("button", name="# dev")).to_have_count(0)
    context.close()


def test_a_room_left_while_offline_stays_left(context: BrowserContext, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    page = open_page(context, server)
    sign_up(page, "liam")
    join(page, "general")
    join(page, "ops")
    rooms = your_rooms(page)

    assert stop_server(server) == 0
    expect(status(page)).not_to_have_text("connected")
    rooms.get_by_role("button", name="Leave ops").click()
    expect(rooms.get_by_role("button", name="# ops")).to_have_count(0)
    server = start_server(server.data_dir, port=server.port)
    try:
        expect(status(page)).to_have_text("connected", timeout=15000)
        say(page, "still here")
        expect(messages(page).get_by_text("still here")).to_be_visible()
        page.reload()
        expect(status(page)).to_have_text("connected")
        expect(rooms.get_by_role("button", name="# general")).to_be_visible()
        expect(rooms.get_by_role("button", name="# ops")).to_have_count(0)
        # The server agrees: ops is no longer among liam's rooms.
        ws, frame = welcome(server, token_of(page))
        assert [r["room"] for r in frame.get("rooms", [])] == ["general"]
        ws.close()
    finally:
        assert stop_server(server) == 0


def test_reconnects_add_no_presence_lines(context: BrowserContext, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    page = open_page(context, server)
    sign_up(page, "mona")
    join(page, "general")
    bob_token = server.token("bob")
    bob = hello(server, "bob", bob_token)
    joined(bob, "general")
    expect(members(page).get_by_text("bob")).to_be_visible()
    lines = messages(page).locator(".presence")
    expect(lines).to_have_text(["bob joined"])

    try:
        for _ in range(3):
            server = restart(server)
            # The page comes back first; bob's client a moment later.
            expect(status(page)).to_have_text("connected", timeout=15000)
            bob = hello(server, "bob", bob_token)
            joined(bob, "general")
            expect(members(page).get_by_text("bob")).to_be_visible()
        # A real arrival still shows, and nothing else was added.
        carol = hello(server, "carol")
        joined(carol, "general")
        expect(members(page).get_by_text("carol")).to_be_visible()
        expect(lines).to_have_text(["bob joined", "carol joined"])
    finally:
        assert stop_server(server) == 0
