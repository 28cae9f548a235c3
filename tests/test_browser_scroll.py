"""The web client's message list: paging back to the first message, and
keeping its place (issue 10, items 5 and 7)."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.blackbox import RunningServer, hello, stop_server
from tests.browser import (
    join,
    joined,
    launch_browser,
    messages,
    new_context,
    open_page,
    post,
    restart,
    settle,
    sign_up,
    skip_without_chromium,
    status,
    wait_at_bottom,
)
from tests.conftest import UNLIMITED_RATES

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")

COUNT_OR_BEGINNING = """n => document.querySelectorAll('.message').length > n
    || document.getElementById('history-state').textContent !== ''"""


def test_paging_back_through_long_messages_reaches_the_first(
    context: BrowserContext, fast_server: RunningServer
) -> None:
    # About 3,980 CJK characters each (some 12 KB of UTF-8): a page of history
    # holds ~21 of them (the 256 KiB bound), fewer than the 50 asked for.
    filler = ("漢字かな交じり文" * 500)[:3975]
    writer = hello(fast_server, "writer")
    joined(writer, "long")
    post(writer, "long", *[f"#{i:03d} {filler}" for i in range(120)])
    writer.close()

    page = open_page(context, fast_server)
    sign_up(page, "nina")
    join(page, "long")
    expect(messages(page).get_by_text("#119")).to_be_attached()
    beginning = page.get_by_text("The beginning of this room.")
    for _ in range(30):
        if beginning.is_visible():
            break
        shown = page.locator(".message").count()
        page.locator("#scroller").evaluate("node => { node.scrollTop = 0; }")
        page.wait_for_function(COUNT_OR_BEGINNING, arg=shown)
    expect(beginning).to_be_visible()
    expect(messages(page).get_by_text("#000")).to_be_attached()
    expect(page.locator(".message")).to_have_count(120)


def test_the_open_room_keeps_its_place(context: BrowserContext, fast_server: RunningServer) -> None:
    server = fast_server
    writer = hello(server, "writer")
    joined(writer, "general")
    post(writer, "general", *[f"message {i:03d}" for i in range(130)])

    page = open_page(context, server)
    sign_up(page, "olga")
    join(page, "general")
    join(page, "dev")
    page.get_by_role("button", name="# general").first.click()
    expect(messages(page).get_by_text("message 129")).to_be_visible()
    wait_at_bottom(page)

    # Leaving another room, reloading and a server restart leave it at the bottom.
    page.get_by_role("button", name="Leave dev").click()
    expect(page.get_by_role("button", name="Leave dev")).to_have_count(0)
    wait_at_bottom(page)
    page.reload()
    expect(messages(page).get_by_text("message 129")).to_be_visible()
    wait_at_bottom(page)
    shown = page.locator(".message").count()

    server = restart(server, *UNLIMITED_RATES)
    try:
        writer = hello(server, "writer")
        joined(writer, "general")
        post(writer, "general", "said during the restart")
        expect(status(page)).to_have_text("connected", timeout=15000)
        expect(messages(page).get_by_text("said during the restart")).to_be_visible()
        wait_at_bottom(page)
        # Only what was missed came: the page did not pull the whole history.
        expect(page.locator(".message")).to_have_count(shown + 1)

        # Scrolled up, it stays where it is and counts what arrives below.
        scroller = page.locator("#scroller")
        scroller.evaluate("node => { node.scrollTop = node.scrollHeight / 2; }")
        settle(page)
        place = scroller.evaluate("node => node.scrollTop")
        post(writer, "general", "new one", "new two")
        jump = page.get_by_role("button", name="Jump to latest (2 new)")
        expect(jump).to_be_visible()
        assert scroller.evaluate("node => node.scrollTop") == place
        jump.click()
        wait_at_bottom(page)
        expect(messages(page).get_by_text("new two")).to_be_visible()
        expect(page.get_by_role("button", name="Jump to latest", exact=False)).to_be_hidden()
        writer.close()
    finally:
        assert stop_server(server) == 0
