"""Conversations (protocol 1.1) in the web client: direct messages opened
from the Members list or a message's author, the Direct messages section
with its unread badges (also for a conversation never opened on the page),
"… is typing", unread counts and the "New messages" line from the server's
read markers (reading on one device clears the badge on another), and
mentions of the signed-in user."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.blackbox import RunningServer
from tests.browser import (
    contexts_for,
    join,
    launch_browser,
    log_in,
    members,
    messages,
    open_page,
    say,
    sign_up,
    skip_without_chromium,
    watch,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")


def direct_list(page: Page) -> Locator:
    return page.get_by_role("list", name="Direct messages")


def conversation(page: Page, user: str) -> Locator:
    """The entry of the conversation with `user` under Direct messages."""
    return (
        direct_list(page)
        .get_by_role("listitem")
        .filter(has=page.get_by_role("button", name=user, exact=True))
    )


def badge(page: Page, user: str) -> Locator:
    return conversation(page, user).locator(".badge")


def typing(page: Page) -> Locator:
    return page.locator("#typing")


def test_direct_messages_typing_and_read_on_another_device(
    browser: Browser, server: RunningServer
) -> None:
    contexts = contexts_for(browser, 3)
    alice, bob, phone = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (alice, bob, phone)]
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    for page in (alice, bob):
        join(page, "lobby")
    log_in(phone, "bob")  # bob's second device: lobby comes from the server
    expect(phone.get_by_role("heading", name="# lobby")).to_be_visible()
    for page in (alice, bob):
        expect(members(page).get_by_role("listitem")).to_have_count(2)
    expect(direct_list(bob).get_by_role("listitem")).to_have_count(0)

    # Your own name in the Members list opens nothing; bob's opens the
    # conversation with him.
    expect(members(alice).get_by_role("link", name="Message alice")).to_have_count(0)
    members(alice).get_by_role("link", name="Message bob").click()
    expect(alice.get_by_role("heading", name="@bob", exact=True)).to_be_visible()
    expect(conversation(alice, "bob")).to_have_count(1)
    expect(your_rooms(alice).get_by_role("listitem")).to_have_count(1)  # lobby only
    say(alice, "hi @bob, got a minute?")
    expect(messages(alice).get_by_text("hi @bob, got a minute?")).to_be_visible()

    # bob, in the lobby, never opened it: it shows under Direct messages
    # with an unread badge, on both his devices, and in the title.
    for page in (bob, phone):
        expect(badge(page, "alice")).to_have_text("1")
        expect(badge(page, "alice")).to_have_attribute("aria-label", "1 unread")
        expect(page).to_have_title("(1) chatroom")
        expect(page.get_by_role("heading", name="# lobby")).to_be_visible()

    # bob opens it on his laptop: the mention of him is highlighted; reading
    # it there clears the badge on his phone.
    conversation(bob, "alice").get_by_role("button", name="alice", exact=True).click()
    expect(bob.get_by_role("heading", name="@alice", exact=True)).to_be_visible()
    text = messages(bob).get_by_text("got a minute?")
    expect(text).to_be_visible()
    expect(text.locator("mark.mention")).to_have_text("@bob")
    expect(badge(bob, "alice")).to_have_count(0)
    expect(badge(phone, "alice")).to_have_count(0)
    expect(phone).to_have_title("chatroom")
    expect(bob).to_have_title("chatroom")
    # No mention highlighted for alice, whose name it is not.
    expect(messages(alice).locator("mark.mention")).to_have_count(0)

    # alice types: bob sees it, until her message comes. (Her page and the
    # server pass on one `typing` every 2 s: she types on for 3 s, as people do.)
    alice.get_by_label("Message", exact=True).press_sequentially("are you there?", delay=200)
    expect(typing(bob)).to_have_text("alice is typing…")
    expect(typing(alice)).to_have_text("")
    alice.get_by_label("Message", exact=True).press("Enter")
    expect(messages(bob).get_by_text("are you there?")).to_be_visible()
    expect(typing(bob)).to_have_text("")

    # bob replies.
    say(bob, "yes, @alice")
    expect(messages(alice).get_by_text("yes, @alice")).to_be_visible()
    expect(messages(alice).locator("mark.mention")).to_have_text("@alice")
    expect(messages(bob).locator("mark.mention")).to_have_count(1)  # only "@bob"

    # bob goes back to the lobby; alice writes again. Opening the
    # conversation shows the "New messages" line before what came since.
    your_rooms(bob).get_by_role("button", name="# lobby").click()
    expect(bob.get_by_role("heading", name="# lobby")).to_be_visible()
    say(alice, "one more thing")
    for page in (bob, phone):
        expect(badge(page, "alice")).to_have_text("1")
    conversation(bob, "alice").get_by_role("button", name="alice", exact=True).click()
    line = messages(bob).get_by_role("separator", name="New messages")
    expect(line).to_have_count(1)
    items = messages(bob).locator("#messages > li")
    expect(items.last).to_contain_text("one more thing")
    expect(items.nth(items.count() - 2)).to_have_class("new-divider")
    expect(badge(phone, "alice")).to_have_count(0)
    # alice's page keeps no badge for a conversation she has open.
    expect(badge(alice, "bob")).to_have_count(0)

    assert thrown == [[], [], []]
    for c in contexts:
        c.close()


def test_author_name_opens_the_conversation(browser: Browser, server: RunningServer) -> None:
    contexts = contexts_for(browser, 2)
    carol, dan = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (carol, dan)]
    sign_up(carol, "carol")
    sign_up(dan, "Dan")
    for page in (carol, dan):
        join(page, "tea")
    say(dan, "anyone for tea?")
    say(carol, "me")
    # Your own name on a message is no button; another's opens the conversation.
    expect(messages(carol).get_by_role("link", name="Message carol")).to_have_count(0)
    messages(carol).get_by_role("link", name="Message Dan").click()
    expect(carol.get_by_role("heading", name="@Dan", exact=True)).to_be_visible()
    say(carol, "psst")
    expect(badge(dan, "carol")).to_have_text("1")
    # Opened from the other side by its name, it is the same conversation.
    members(dan).get_by_role("link", name="Message carol").click()
    expect(dan.get_by_role("heading", name="@carol", exact=True)).to_be_visible()
    expect(messages(dan).get_by_text("psst")).to_be_visible()
    expect(direct_list(dan).get_by_role("listitem")).to_have_count(1)
    expect(badge(dan, "carol")).to_have_count(0)

    # Closed, the conversation comes back with the next message.
    direct_list(dan).get_by_role("button", name="Close the conversation with carol").click()
    expect(direct_list(dan).get_by_role("listitem")).to_have_count(0)
    expect(dan.get_by_role("heading", name="# tea")).to_be_visible()
    say(carol, "still there?")
    expect(badge(dan, "carol")).to_have_text("1")
    conversation(dan, "carol").get_by_role("button", name="carol", exact=True).click()
    expect(messages(dan).get_by_text("still there?")).to_be_visible()
    expect(messages(dan).get_by_text("psst")).to_be_visible()

    assert thrown == [[], []]
    for c in contexts:
        c.close()
