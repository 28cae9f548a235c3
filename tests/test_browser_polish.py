"""The web client's words and looks (issue 10, item 11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.blackbox import RunningServer, hello, start_server, stop_server
from tests.browser import (
    PASSWORD,
    join,
    joined,
    launch_browser,
    members,
    messages,
    new_context,
    open_drawer,
    open_page,
    post,
    say,
    sign_up,
    skip_without_chromium,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")


def chat_error(page: Page) -> str:
    return page.locator("#chat-error").inner_text()


def test_errors_are_said_plainly(context: BrowserContext, server: RunningServer) -> None:
    page = open_page(context, server)
    page.get_by_label("Username").fill("no spaces please")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    auth_error = page.locator("#auth-error")
    expect(auth_error).to_have_text(re.compile(r"^User names are 1 to 32 .*\w\.$"))
    page.get_by_label("Username").fill("pia")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(auth_error).to_have_text(re.compile(r"^Password must be .*\w\.$"))

    sign_up(page, "pia")
    join(page, "lobby")
    page.get_by_label("Message", exact=True).fill("x" * 4002)
    expect(page.locator("#counter")).to_have_text("2 characters too many")
    page.get_by_label("Message", exact=True).press("Enter")
    expect(page.locator("#chat-error")).to_have_text(re.compile("too long"))

    # A bad room name is explained by the page, and a leading # is fine.
    room = page.get_by_label("Room", exact=True)
    room.fill("no spaces")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#chat-error")).to_have_text(re.compile("^Room names are 1 to 64 "))
    assert room.evaluate("node => node.validationMessage") == ""
    room.fill("#General")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="# General")).to_be_visible()
    assert ".." not in auth_error.inner_text() + chat_error(page)


def test_an_error_stays_with_its_room(context: BrowserContext, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-rooms-per-connection", "2")
    try:
        page = open_page(context, server)
        sign_up(page, "quinn")
        join(page, "one")
        join(page, "two")
        page.get_by_label("Room", exact=True).fill("three")
        page.get_by_role("button", name="Join").click()
        error = page.locator("#chat-error")
        # Said about three, back in two (the room open before).
        expect(error).to_have_text(re.compile("^Could not join # three: .*2 rooms"))
        expect(page.get_by_role("heading", name="# two")).to_be_visible()
        expect(your_rooms(page).get_by_role("button", name="# three")).to_have_count(0)
        # Gone at once when another room is opened (not 6 s later).
        your_rooms(page).get_by_role("button", name="# one").click()
        expect(error).to_have_text("", timeout=2000)
    finally:
        assert stop_server(server) == 0


def test_room_counts_agree_with_members(context: BrowserContext, server: RunningServer) -> None:
    page = open_page(context, server)
    sign_up(page, "rita")
    join(page, "lobby")
    bob = hello(server, "bob")
    joined(bob, "lobby")
    all_rooms = page.locator("#all-rooms")
    expect(members(page).get_by_role("listitem")).to_have_count(2)
    expect(all_rooms.get_by_text("2 members")).to_be_visible(timeout=3000)
    bob.close()
    expect(members(page).get_by_role("listitem")).to_have_count(1)
    expect(all_rooms.get_by_text("1 member", exact=True)).to_be_visible(timeout=3000)


def test_messages_are_grouped_dated_and_linked(
    context: BrowserContext, server: RunningServer
) -> None:
    page = open_page(context, server)
    sign_up(page, "sam")
    join(page, "lobby")
    bob = hello(server, "bob")
    joined(bob, "lobby")
    post(bob, "lobby", "hi", "see https://example.org/a?b=1&c=<2>, ok", "javascript:alert(1)")
    say(page, "thanks")
    list_ = messages(page)
    expect(list_.get_by_text("thanks")).to_be_visible()
    # One heading per run of one author's messages; one day separator.
    expect(list_.locator(".author")).to_have_text(["bob", "sam"])
    expect(list_.locator(".day")).to_have_text(["Today"])
    # (Authors' names are links too: to the conversation with them.)
    expect(list_.get_by_role("link", name="Message bob")).to_have_count(1)
    link = list_.locator(".text").get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_text("https://example.org/a?b=1&c=")
    expect(link).to_have_attribute("href", "https://example.org/a?b=1&c=")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    expect(list_.get_by_text("see https://example.org/a?b=1&c=<2>, ok")).to_be_visible()
    labels = page.evaluate(
        """async () => {
            const { dayLabel } = await import("/static/messages.js");
            const day = 24 * 3600 * 1000, now = new Date(2026, 2, 4, 9).getTime();
            return [now - 1000, now - day, now - 3 * day].map((ts) => dayLabel(ts, now));
        }"""
    )
    assert labels[:2] == ["Today", "Yesterday"]
    assert "1" in labels[2]  # the date: 1 March 2026, in the browser's words

    # The tab's title counts unread messages.
    join(page, "elsewhere")
    post(bob, "lobby", "one", "two", "three")
    expect(page).to_have_title("(3) chatroom")
    your_rooms(page).get_by_role("button", name="# lobby").click()
    expect(page).to_have_title("chatroom")
    bob.close()


def test_narrow_screen_drawer_and_long_room_names(browser: Browser, server: RunningServer) -> None:
    long_name = "a-rather-long-room-name-for-a-sidebar-" + "x" * 26
    wide = browser.new_context(viewport={"width": 1100, "height": 700})
    page = open_page(wide, server)
    sign_up(page, "tess")
    join(page, long_name)
    name = your_rooms(page).get_by_role("button", name=f"# {long_name}")
    leave = your_rooms(page).get_by_role("button", name=f"Leave {long_name}")
    sidebar = page.locator(".sidebar").bounding_box()
    name_box, leave_box = name.bounding_box(), leave.bounding_box()
    assert sidebar and name_box and leave_box
    assert leave_box["x"] + leave_box["width"] <= sidebar["x"] + sidebar["width"]
    assert (
        abs((leave_box["y"] + leave_box["height"] / 2) - (name_box["y"] + name_box["height"] / 2))
        < 4
    )
    wide.close()

    narrow = browser.new_context(viewport={"width": 360, "height": 740})
    page = open_page(narrow, server)
    sign_up(page, "uma")
    room_field = page.get_by_label("Room", exact=True)
    expect(room_field).to_be_visible()  # no room yet: the drawer is open
    join(page, "mobile")  # closes it
    expect(room_field).to_be_hidden()
    scroller = page.locator("#scroller").bounding_box()
    assert scroller and scroller["height"] > 740 * 0.5
    open_drawer(page)
    expect(your_rooms(page).get_by_role("button", name="# mobile")).to_be_visible()
    narrow.close()


def test_all_rooms_past_the_first_page_are_found_by_typing(
    context: BrowserContext, server: RunningServer
) -> None:
    makers = [hello(server, f"maker{n}") for n in range(3)]
    for i in range(120):  # 40 new rooms each, inside the per-user cap
        maker = makers[i % 3]
        joined(maker, f"{'zz' if i >= 110 else 'aa'}-{i:03d}")
    page = open_page(context, server)
    sign_up(page, "uma")
    all_rooms = page.locator("#all-rooms")
    expect(all_rooms.locator(".room")).to_have_count(100)
    expect(all_rooms.get_by_text("More rooms: type the start of a name above.")).to_be_visible()
    page.get_by_label("Room", exact=True).fill("#ZZ")
    expect(all_rooms.locator(".room")).to_have_count(10)
    expect(all_rooms.get_by_text("# zz-119")).to_be_visible()
    expect(all_rooms.get_by_text("More rooms")).to_have_count(0)
    for maker in makers:
        maker.close()
