"""Search in the web client (protocol 1.2), against a real server: the box
opened with Ctrl-K, `/` and the header's button; results grouped by room
with the words marked; a result in a room not joined yet, far older than
its latest page, opens that room at the message, highlighted, with those
after it, and Jump to latest from there; one some pages back in the open
room is reached by paging back; "No results" and a refused query said."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.blackbox import RunningServer, hello
from tests.browser import (
    join,
    joined,
    launch_browser,
    messages,
    new_context,
    open_page,
    post,
    sign_up,
    skip_without_chromium,
    watch,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")


def search_box(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Message search")


def search(page: Page, query: str) -> None:
    field = search_box(page).get_by_label("Search messages")
    field.fill(query)
    field.press("Enter")


def message(page: Page, text: str) -> Locator:
    return messages(page).locator("li.message").filter(has_text=text)


def in_view(page: Page, item: Locator) -> bool:
    """Whether `item` lies within the message list's visible part."""
    return bool(
        item.evaluate(
            """li => { const s = document.getElementById('scroller').getBoundingClientRect();
                       const r = li.getBoundingClientRect();
                       return r.top >= s.top - 1 && r.bottom <= s.bottom + 1; }"""
        )
    )


def test_search_opens_a_room_at_an_older_message(
    context: BrowserContext, fast_server: RunningServer
) -> None:
    server = fast_server
    writer = hello(server, "writer")
    # In #archive the match has 700 messages after it (far more than a page
    # or a few); in #lobby, 80.
    joined(writer, "archive")
    post(writer, "archive", "early chatter", "The Quokka is a small marsupial")
    fillers = [f"archive filler {i:03d}" for i in range(700)]
    for start in range(0, len(fillers), 100):
        post(writer, "archive", *fillers[start : start + 100])
    joined(writer, "lobby")
    post(writer, "lobby", "a quokka sighting near the lake")
    post(writer, "lobby", *[f"lobby filler {i:03d}" for i in range(80)])
    writer.close()

    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "alice")
    join(page, "lobby")
    expect(message(page, "lobby filler 079")).to_be_visible()

    # Ctrl-K opens the box, its field focused; the results come grouped by
    # room, the newest match's room first, the word marked in each.
    page.keyboard.press("Control+k")
    expect(search_box(page)).to_be_visible()
    expect(search_box(page).get_by_label("Search messages")).to_be_focused()
    search(page, "QUOKKA")
    groups = search_box(page).get_by_role("group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).get_by_role("heading")).to_have_text("# lobby")
    expect(groups.nth(1).get_by_role("heading")).to_have_text("# archive")
    expect(search_box(page).locator("mark")).to_have_text(["quokka", "Quokka"])
    expect(search_box(page)).to_contain_text("2 results")

    # The #archive one: the room is joined and opens at the message, with
    # those after it, the message in view and highlighted.
    groups.nth(1).get_by_role("button").click()
    expect(search_box(page)).to_be_hidden()
    expect(page.get_by_role("heading", name="# archive", exact=True)).to_be_visible()
    found = message(page, "The Quokka is a small marsupial")
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    assert in_view(page, found)
    expect(message(page, "archive filler 005")).to_be_attached()
    expect(message(page, "archive filler 699")).to_have_count(0)
    expect(your_rooms(page).get_by_role("button", name="# archive")).to_be_visible()
    expect(found).not_to_have_class(re.compile(r"\bfound\b"), timeout=6000)  # a moment only

    # Its page holds those before it too, down to the beginning; Jump to
    # latest goes to the end.
    expect(message(page, "early chatter")).to_be_attached()
    expect(page.get_by_text("The beginning of this room.")).to_be_attached()
    jump = page.get_by_role("button", name=re.compile("^Jump to latest"))
    expect(jump).to_be_visible()
    jump.click()
    expect(message(page, "archive filler 699")).to_be_visible()
    expect(jump).to_be_hidden()

    # `/` (not in a field) opens it too; the #lobby result is 80 messages
    # back in the open room: paged back to, in view and highlighted.
    your_rooms(page).get_by_role("button", name="# lobby", exact=True).click()
    expect(page.get_by_role("heading", name="# lobby", exact=True)).to_be_visible()
    page.locator("#room-title").click()  # focus out of the message field
    page.keyboard.press("/")
    expect(search_box(page)).to_be_visible()
    expect(search_box(page).get_by_label("Search messages")).to_have_value("QUOKKA")
    search(page, "quokka")
    expect(search_box(page)).to_contain_text("2 results")
    search_box(page).get_by_role("group", name="# lobby").get_by_role("button").click()
    found = message(page, "a quokka sighting near the lake")
    expect(found).to_have_class(re.compile(r"\bfound\b"))
    assert in_view(page, found)
    expect(message(page, "lobby filler 079")).to_be_attached()  # the list stays whole
    expect(page.get_by_role("button", name=re.compile("^Jump to latest"))).to_be_hidden()
    assert thrown == []


def test_no_results_and_refusals_said(context: BrowserContext, server: RunningServer) -> None:
    writer = hello(server, "writer")
    joined(writer, "zoo")
    post(writer, "zoo", "only otters here")
    writer.close()

    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "bob")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(search_box(page)).to_be_visible()
    search(page, "wombat")
    status = search_box(page).locator("#search-status")
    expect(status).to_have_text("No results for “wombat”.")
    expect(search_box(page).get_by_role("button", name=re.compile("otters"))).to_have_count(0)

    search(page, "OTTERS")
    expect(status).to_have_text("1 result.")
    expect(search_box(page).locator("mark")).to_have_text(["otters"])

    # Too many words: the server's refusal, in words.
    search(page, " ".join(f"w{i}" for i in range(30)))
    expect(status).to_contain_text("Could not search.")
    expect(status).to_have_class(re.compile(r"\berror\b"))

    # Escape closes it, and focus goes back to where it was.
    search_box(page).get_by_label("Search messages").press("Escape")
    expect(search_box(page)).to_be_hidden()
    expect(page.get_by_role("button", name="Search", exact=True)).to_be_focused()
    assert thrown == []
