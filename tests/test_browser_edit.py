"""Edit and delete (protocol 1.1) in the web client: the author's Edit and
Delete buttons, what other members see live, what history shows after, and
refusals said in words."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.blackbox import RunningServer
from tests.browser import (
    join,
    joined,
    launch_browser,
    messages,
    new_context,
    open_page,
    post,
    say,
    sign_up,
    skip_without_chromium,
    watch,
    welcome,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")

CHANGES = re.compile(r"^(Edit|Delete) message$")  # the buttons that change a message


def message(page: Page, text: str) -> Locator:
    """The message (list item) showing `text`."""
    return messages(page).locator("li.message").filter(has_text=text)


def texts(page: Page) -> Locator:
    return messages(page).locator("#messages li.message .text")


def edit(page: Page, text: str, new_text: str) -> None:
    message(page, text).get_by_role("button", name="Edit message").click()
    editor = page.get_by_label("Edit message text")
    expect(editor).to_be_focused()
    editor.fill(new_text)
    editor.press("Enter")


def delete(page: Page, text: str) -> None:
    message(page, text).get_by_role("button", name="Delete message").click()
    question = messages(page).get_by_role("group", name="Delete this message?")
    question.get_by_role("button", name="Delete", exact=True).click()


def test_edits_and_deletes_show_live_and_in_history(
    browser: Browser, server: RunningServer
) -> None:
    contexts = [browser.new_context(viewport={"width": 1100, "height": 700}) for _ in range(3)]
    alice, bob, carol = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (alice, bob, carol)]
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    join(alice, "lobby")
    join(bob, "lobby")
    for text in ("frist post", "oops, wrong room", "third"):
        say(alice, text)
    say(bob, "bob's own")
    expect(texts(bob)).to_have_text(["frist post", "oops, wrong room", "third", "bob's own"])
    expect(texts(alice)).to_have_count(4)

    # Edit and Delete on one's own messages only (and none on messages not
    # confirmed); Reply and React on every message.
    expect(message(bob, "frist post").get_by_role("button", name=CHANGES)).to_have_count(0)
    expect(messages(bob).get_by_role("button", name="Edit message")).to_have_count(1)
    expect(messages(bob).get_by_role("button", name="Delete message")).to_have_count(1)
    expect(messages(alice).get_by_role("button", name="Edit message")).to_have_count(3)
    # alice joined first: she owns the room, so she may delete bob's message.
    theirs = message(alice, "bob's own")
    expect(theirs.get_by_role("button", name="Edit message")).to_have_count(0)
    expect(theirs.get_by_role("button", name="Delete message")).to_have_count(1)

    # Edit: bob sees the new text with "(edited)" at once.
    edit(alice, "frist post", "first post")
    expect(alice.get_by_label("Edit message text")).to_have_count(0)
    expect(message(alice, "first post").get_by_role("button", name="Edit message")).to_be_focused()
    edited = message(bob, "first post")
    expect(edited).to_contain_text("first post (edited)")
    expect(edited.locator(".edited")).to_have_attribute("title", re.compile(r"^Edited "))
    expect(texts(bob).first).to_have_text("first post (edited)")

    # By keyboard; Escape gives up, and nothing goes out.
    third = message(alice, "third")
    third.get_by_role("button", name="Edit message").focus()
    alice.keyboard.press("Enter")
    editor = alice.get_by_label("Edit message text")
    expect(editor).to_have_value("third")
    editor.press("End")
    editor.press("Shift+Enter")
    editor.type("never sent")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(third.get_by_role("button", name="Edit message")).to_be_focused()
    expect(third.locator(".text")).to_have_text("third")

    # Delete asks first, in the page; Cancel keeps the message.
    oops = message(alice, "oops, wrong room")
    oops.get_by_role("button", name="Delete message").click()
    question = messages(alice).get_by_role("group", name="Delete this message?")
    expect(question).to_be_visible()
    question.get_by_role("button", name="Cancel").click()
    expect(question).to_have_count(0)
    expect(oops.get_by_role("button", name="Delete message")).to_be_focused()
    delete(alice, "oops, wrong room")
    for page in (alice, bob):
        expect(messages(page).get_by_text("oops, wrong room")).to_have_count(0)
        expect(texts(page)).to_have_text(
            ["first post (edited)", "message deleted", "third", "bob's own"]
        )
    tombstone = messages(bob).locator("li.message.deleted")
    expect(tombstone.get_by_role("button")).to_have_count(0)
    expect(messages(alice).locator("li.message.deleted").get_by_role("button")).to_have_count(0)

    # An edit is text, never HTML.
    hostile = "<img src=x onerror=alert(document.domain)> <b>bold?</b>"
    edit(alice, "third", hostile)
    expect(message(bob, hostile)).to_contain_text("(edited)")
    assert bob.locator(".messages img, .messages b").count() == 0

    # A page that joins later, and one that reloads, see it all from history.
    sign_up(carol, "carol")
    join(carol, "lobby")
    bob.reload()
    for page in (carol, bob):
        expect(texts(page)).to_have_text(
            ["first post (edited)", "message deleted", f"{hostile} (edited)", "bob's own"]
        )
        expect(message(page, "first post").locator(".edited")).to_have_attribute(
            "title", re.compile(r"^Edited ")
        )
    expect(messages(carol).get_by_role("button", name="Edit message")).to_have_count(0)
    expect(messages(bob).get_by_role("button", name="Edit message")).to_have_count(1)
    assert thrown == [[], [], []]
    for c in contexts:
        c.close()


def test_refused_edits_and_deletes_are_said_in_words(
    context: BrowserContext, server: RunningServer
) -> None:
    """The server's refusals, provoked by rewriting what the page sends."""

    def rewrite(route: WebSocketRoute) -> None:
        upstream = route.connect_to_server()

        def to_server(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame.get("type") == "delete" or frame.get("text") == "gone":
                frame["id"] = 999
            elif frame.get("text") == "theirs":
                frame["id"] = 1
            elif frame.get("text") == "too long":
                frame["text"] = "x" * 5000
            upstream.send(json.dumps(frame))

        route.on_message(to_server)

    bob = open_page(context, server)
    bob.route_web_socket(re.compile(r"/ws$"), rewrite)
    thrown = watch(bob)
    sign_up(bob, "bob")
    join(bob, "lobby")
    # Message 1 is someone else's.
    ws, _ = welcome(server, server.token("dora"))
    joined(ws, "lobby")
    post(ws, "lobby", "dora's")
    say(bob, "mine")
    expect(texts(bob)).to_have_text(["dora's", "mine"])
    error = bob.locator("#chat-error")

    edit(bob, "mine", "gone")
    expect(error).to_have_text("Could not edit that message. It is no longer there.")
    edit(bob, "mine", "theirs")
    expect(error).to_have_text("Could not edit that message. It is someone else's.")
    expect(bob.get_by_label("Edit message text")).to_have_count(0)
    # Refused for a reason that passes: what was typed comes back.
    edit(bob, "mine", "too long")
    expect(error).to_have_text(
        re.compile(r"^Could not edit that message\. That message is too long")
    )
    expect(bob.get_by_label("Edit message text")).to_have_value("too long")
    bob.get_by_label("Edit message text").press("Escape")
    delete(bob, "mine")
    expect(error).to_have_text("Could not delete that message. It is no longer there.")
    expect(message(bob, "mine").locator(".text")).to_have_text("mine")

    # Checked before sending: an empty text, and nothing changed.
    message(bob, "mine").get_by_role("button", name="Edit message").click()
    bob.get_by_label("Edit message text").fill("   ")
    bob.get_by_label("Edit message text").press("Enter")
    expect(error).to_have_text("A message cannot be empty; delete it instead.")
    expect(bob.get_by_label("Edit message text")).to_be_focused()
    bob.get_by_label("Edit message text").fill("mine")
    bob.get_by_role("button", name="Save").click()
    expect(bob.get_by_label("Edit message text")).to_have_count(0)
    edit(bob, "mine", "fine")
    expect(message(bob, "fine")).to_contain_text("fine (edited)")
    assert thrown == []
    ws.close()


def test_the_owner_deletes_anyones_message_and_members_do_not(
    browser: Browser, server: RunningServer
) -> None:
    contexts = [browser.new_context(viewport={"width": 1100, "height": 700}) for _ in range(2)]
    owner, member = (open_page(c, server) for c in contexts)
    sign_up(owner, "owner")
    sign_up(member, "member")
    join(owner, "den")  # the first to join a new room owns it
    join(member, "den")
    say(member, "spam spam spam")
    say(owner, "house rules")
    expect(texts(owner)).to_have_count(2)
    expect(message(member, "house rules").get_by_role("button", name=CHANGES)).to_have_count(0)
    expect(
        message(owner, "spam spam spam").get_by_role("button", name="Edit message")
    ).to_have_count(0)
    delete(owner, "spam spam spam")
    expect(message(member, "message deleted")).to_have_count(1)
    for context in contexts:
        context.close()
