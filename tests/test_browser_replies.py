"""Replies and reactions in the web client (protocol 1.2), against a real
server: Reply quotes a message above the field (Escape and x cancel), both
users see the quote above the reply, and a quote of a message not loaded
fills in and jumps to it (paging back), highlighted; reactions picked from
the common row and by searching the bundled list, counted with who on
hover, toggled by their chips, kept in history, caught up after a
reconnect (`changes`), and a 21st refused in words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.blackbox import RunningServer, receive_until, send, start_server, stop_server
from tests.browser import (
    contexts_for,
    join,
    joined,
    launch_browser,
    messages,
    open_page,
    post,
    register,
    say,
    sign_up,
    skip_without_chromium,
    watch,
    welcome,
)
from tests.test_browser_catch_up import SwitchableLink

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")

FILLERS = 120  # more than a page (50) between a message and a reply to it
OTHER_EMOJI = "🚗🚕🚌🚒🚓🚑🚲🛴🚢🚁🎈🎁🎂🍕🍔🍟🍩🍪"  # 18: with 👍 and 🚀, 20


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module, its rates out of the way of the fillers."""
    running = start_server(
        tmp_path_factory.mktemp("replies") / "data",
        "--send-rate",
        "1000000",
        "--frame-rate",
        "1000000",
    )
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


def message(page: Page, text: str) -> Locator:
    """The message whose own text (not a quote of another) holds `text`."""
    own_text = page.locator(".text").filter(has_text=text)
    return messages(page).locator("li.message:not(.pending)").filter(has=own_text)


def tool(page: Page, text: str, name: str) -> Locator:
    """A message's tool (Reply, React), shown on hover."""
    item = message(page, text)
    item.hover()
    return item.locator(".tools").get_by_role("button", name=name)


def chip(page: Page, text: str, emoji: str) -> Locator:
    return message(page, text).locator(f".reaction[data-emoji='{emoji}']")


def test_reply_quotes_and_jumps_to_the_original(
    browser: Browser, shared_server: RunningServer
) -> None:
    server = shared_server
    ctx_a, ctx_b = contexts_for(browser, 2)
    a, b = open_page(ctx_a, server), open_page(ctx_b, server)
    thrown = (watch(a), watch(b))
    sign_up(a, "alice")
    join(a, "replies")
    say(a, "The original question\nwith a second line")
    sign_up(b, "bob")
    join(b, "replies")

    bar = b.get_by_role("group", name="Replying to")
    tool(b, "The original question", "Reply to this message").click()
    expect(bar).to_contain_text("alice")
    expect(bar).to_contain_text("The original question")
    expect(bar).not_to_contain_text("second line")
    field = b.get_by_label("Message", exact=True)
    expect(field).to_be_focused()
    field.press("Escape")
    expect(bar).to_be_hidden()
    tool(b, "The original question", "Reply to this message").click()
    bar.get_by_role("button", name="Cancel reply").click()
    expect(bar).to_be_hidden()
    tool(b, "The original question", "Reply to this message").click()
    say(b, "my answer")
    expect(bar).to_be_hidden()
    for page in (a, b):
        quote = message(page, "my answer").locator(".reply-to")
        expect(quote).to_contain_text("alice")
        expect(quote).to_contain_text("The original question")
    original = message(a, "The original question")
    original_id = int(original.get_attribute("data-id") or "0")

    # A reply sent after more than a page of others: the original is not
    # among the messages a fresh page loads.
    carol = register(server, "carol")
    ws, _ = welcome(server, carol)
    joined(ws, "replies")
    post(ws, "replies", *[f"filler {i:03d}" for i in range(FILLERS)])
    send(ws, type="send", room="replies", text="a late reply", reply_to=original_id)
    assert receive_until(ws, "message")["reply_to"] == original_id
    ws.close()

    a.reload()
    late = message(a, "a late reply").locator(".reply-to")
    expect(late).to_contain_text("alice")  # fetched, then filled in
    expect(late).to_contain_text("The original question")
    expect(message(a, "The original question")).to_have_count(0)
    late.click()
    original = message(a, "The original question")
    expect(original).to_have_class(re.compile(r"\bfound\b"))
    expect(original).to_be_in_viewport()
    assert thrown == ([], [])
    ctx_a.close()
    ctx_b.close()


def test_reactions_between_two_users(browser: Browser, shared_server: RunningServer) -> None:
    server = shared_server
    ctx_a, ctx_b = contexts_for(browser, 2)
    link = SwitchableLink(ctx_b)
    a, b = open_page(ctx_a, server), open_page(ctx_b, server)
    thrown = (watch(a), watch(b))
    sign_up(a, "ann")
    join(a, "reacts")
    say(a, "react to this")
    sign_up(b, "ben")
    join(b, "reacts")
    text = "react to this"

    tool(a, text, "Add a reaction").click()
    picker = a.get_by_role("dialog", name="Pick a reaction")
    picker.get_by_role("button", name="thumbs up", exact=True).click()
    expect(picker).to_be_hidden()
    thumbs = chip(b, text, "👍")
    expect(thumbs.locator(".reaction-count")).to_have_text("1")
    expect(thumbs).to_have_attribute("title", re.compile(r"^ann reacted"))
    expect(thumbs).to_have_attribute("aria-pressed", "false")
    expect(chip(a, text, "👍")).to_have_attribute("aria-pressed", "true")

    thumbs.click()
    for page in (a, b):
        expect(chip(page, text, "👍").locator(".reaction-count")).to_have_text("2")
    expect(thumbs).to_have_attribute("aria-pressed", "true")
    expect(thumbs).to_have_attribute("title", re.compile(r"^ann and ben reacted"))

    chip(a, text, "👍").click()
    for page in (a, b):
        expect(chip(page, text, "👍").locator(".reaction-count")).to_have_text("1")
    expect(chip(a, text, "👍")).to_have_attribute("aria-pressed", "false")
    expect(thumbs).to_have_attribute("title", re.compile(r"^ben reacted"))

    # Found by searching the bundled list.
    tool(a, text, "Add a reaction").click()
    picker.get_by_label("Search emoji").fill("rocket")
    picker.get_by_role("button", name="rocket", exact=True).click()
    expect(chip(b, text, "🚀").locator(".reaction-count")).to_have_text("1")

    # In history: a reload shows the same chips, one's own marked.
    b.reload()
    expect(chip(b, text, "👍").locator(".reaction-count")).to_have_text("1")
    expect(chip(b, text, "👍")).to_have_attribute("aria-pressed", "true")
    expect(chip(b, text, "🚀")).to_have_attribute("aria-pressed", "false")

    # Reactions made while ben is cut off reach him as `changes` when he
    # is back; twenty distinct emoji are the most a message takes.
    link.cut(b)
    ws, _ = welcome(server, register(server, "cat"))
    history = joined(ws, "reacts")["history"]
    target = next(m["id"] for m in history if m.get("text") == text)
    for emoji in OTHER_EMOJI:
        send(ws, type="react", room="reacts", id=target, emoji=emoji, on=True)
    for _ in OTHER_EMOJI:
        receive_until(ws, "reactions")
    ws.close()
    link.restore(b)
    for page in (a, b):
        expect(message(page, text).locator(".reaction:not(.reaction-add)")).to_have_count(20)
    expect(chip(b, text, "🍪")).to_have_attribute("title", re.compile(r"^cat reacted"))
    # A 21st is refused.
    tool(a, text, "Add a reaction").click()
    picker.get_by_label("Search emoji").fill("unicorn")
    picker.get_by_label("Search emoji").press("Enter")
    expect(a.locator("#chat-error")).to_contain_text("at most 20 different reactions")
    assert thrown == ([], [])
    ctx_a.close()
    ctx_b.close()
