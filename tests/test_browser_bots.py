"""Bots in the web client, against a real server and the example dice bot
as a process: the command list after `/`, narrowed as the name is typed,
the usage hint, `/roll 20` answered in the room by the bot (with its badge,
in the messages and the Members list), `/echo hi` answered for the invoker
alone ("only visible to you", not on another member's page, gone after a
reload), an unknown command refused in the page and `//` sending a slash;
a room's webhooks made in its settings (an incoming one POSTed to, an
outgoing one signing what it sends) and deleted; and a server without
commands or webhooks, where nothing breaks."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.blackbox import RunningServer, start_server, stop_server
from tests.browser import (
    contexts_for,
    join,
    joined,
    launch_browser,
    members,
    messages,
    open_page,
    say,
    sign_up,
    skip_without_chromium,
    watch,
    welcome,
)
from tests.test_bot_process import start_bot, stop_bot
from tests.test_commands import bot_token, request
from tests.webhook_target import Target, verified

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")


def field(page: Page) -> Locator:
    return page.get_by_label("Message", exact=True)


def menu(page: Page) -> Locator:
    return page.get_by_role("listbox", name="Commands")


def message_by(page: Page, user: str) -> Locator:
    """The messages (ephemeral answers too) headed by `user`."""
    return (
        messages(page)
        .locator("li.message")
        .filter(has=page.locator(".meta .author").get_by_text(user, exact=True))
    )


def ephemeral(page: Page) -> Locator:
    return messages(page).locator("li.message").filter(has_text="only visible to you")


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = contexts_for(browser, 2)
    yield made
    for context in made:
        context.close()


def signed_in(contexts: list[BrowserContext], server: RunningServer, room: str) -> list[Page]:
    """carol and dave, each on a page of their own, in `room` (carol first)."""
    pages = [open_page(context, server) for context in contexts]
    for page, user in zip(pages, ("carol", "dave"), strict=True):
        sign_up(page, user)
        join(page, room)
    return pages


def until_registered(server: RunningServer, token: str) -> None:
    """Wait until the bot process has registered its commands."""
    ws, _ = welcome(server, token)
    try:
        deadline = time.monotonic() + 15
        while not any(c["name"] == "roll" for c in request(ws, "commands")["commands"]):
            assert time.monotonic() < deadline, "the bot never registered its commands"
            time.sleep(0.1)
    finally:
        ws.close()


def test_commands_from_the_message_field(
    contexts: list[BrowserContext], server: RunningServer
) -> None:
    token = bot_token(server, "dice", owner="olga")
    bot = start_bot(server, "examples/dice_bot.py:bot", token)
    try:
        carol, dave = signed_in(contexts, server, "games")
        thrown = [watch(page) for page in (carol, dave)]
        # The bot's account is in the room too (a connection of its own).
        present, _ = welcome(server, token)
        joined(present, "games")
        until_registered(server, token)

        # `/` opens the list of commands; typing the name narrows it.
        field(carol).press_sequentially("/")
        options = menu(carol).get_by_role("option")
        expect(options).to_have_count(2)
        expect(options.nth(0)).to_contain_text("/echo")
        expect(options.nth(1)).to_contain_text("/roll")
        expect(options.nth(1)).to_contain_text("Roll a die.")
        expect(options.nth(1)).to_contain_text("dice")
        expect(options.nth(0)).to_have_attribute("aria-selected", "true")
        field(carol).press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        field(carol).press("Escape")
        expect(menu(carol)).to_be_hidden()
        field(carol).press_sequentially("ro")  # opens it again
        expect(options).to_have_count(1)
        expect(options.first).to_contain_text("/roll")
        expect(options.first).to_have_attribute("aria-selected", "true")
        field(carol).press("Tab")  # picks it
        expect(field(carol)).to_have_value("/roll ")
        expect(menu(carol)).to_be_hidden()
        hint = carol.locator("#command-hint")
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("/roll [sides:int]")

        # Sent as a command: the bot's answer is its message in the room.
        field(carol).press_sequentially("20")
        field(carol).press("Enter")
        expect(field(carol)).to_have_value("")
        expect(hint).to_be_hidden()
        for page in (carol, dave):
            rolled = message_by(page, "dice")
            expect(rolled).to_have_count(1)
            expect(rolled.locator(".text")).to_have_text(re.compile(r"^carol rolled \d+ \(d20\)$"))
            expect(rolled.locator(".bot-badge")).to_have_text("bot")
            bot_member = members(page).get_by_role("listitem").filter(has_text="dice")
            expect(bot_member.locator(".bot-badge")).to_be_visible()
            dave_member = members(page).get_by_role("listitem").filter(has_text="dave")
            expect(dave_member.locator(".bot-badge")).to_have_count(0)

        # An ephemeral answer: for carol alone, and only until she reloads.
        field(carol).fill("/echo hi")
        field(carol).press("Enter")
        expect(ephemeral(carol)).to_have_count(1)
        expect(ephemeral(carol).locator(".text")).to_have_text("hi")
        expect(ephemeral(carol).locator(".author")).to_have_text("dice")
        expect(ephemeral(carol).locator(".bot-badge")).to_be_visible()

        # An unknown command is refused here; `//` sends a slash.
        field(carol).fill("/nope 3")
        field(carol).press("Enter")
        expect(carol.locator("#chat-error")).to_contain_text("No command /nope")
        expect(field(carol)).to_have_value("/nope 3")
        field(carol).fill("//nope is not a command")
        field(carol).press("Enter")
        for page in (carol, dave):
            expect(message_by(page, "carol").locator(".text")).to_have_text(
                ["/nope is not a command"]
            )
        expect(ephemeral(dave)).to_have_count(0)  # what carol saw came before
        expect(dave.get_by_text("only visible to you")).to_have_count(0)

        carol.reload()
        expect(message_by(carol, "carol")).to_have_count(1)
        expect(message_by(carol, "dice")).to_have_count(1)
        expect(ephemeral(carol)).to_have_count(0)
        assert carol.title() == "chatroom"  # nothing unread
        assert thrown == [[], []]
    finally:
        assert stop_bot(bot) == 0


def post(url: str, text: str) -> int:
    body = json.dumps({"text": text}).encode()
    call = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def hooks_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server whose outgoing webhooks may reach this machine."""
    running = start_server(tmp_path / "data", "--webhook-allow", "127.0.0.0/8")
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


def test_webhooks_made_in_the_room_settings(
    contexts: list[BrowserContext], hooks_server: RunningServer
) -> None:
    server = hooks_server
    carol, dave = signed_in(contexts, server, "ops")  # carol owns it
    thrown = [watch(page) for page in (carol, dave)]

    # Only the owner (and moderators) see the section, in the room's settings.
    expect(dave.get_by_role("button", name="Settings", exact=True)).to_be_hidden()
    expect(dave.get_by_role("button", name="Webhooks")).to_be_hidden()
    carol.get_by_role("button", name="Settings", exact=True).click()
    carol.get_by_role("button", name="Webhooks").click()
    section = carol.get_by_role("region", name="Webhooks")
    expect(section).to_contain_text("No webhooks in this room yet.")

    # An incoming hook: its URL, shown once, posts into the room.
    section.get_by_label("Name", exact=True).fill("ci")
    section.get_by_role("button", name="Create webhook").click()
    made = section.get_by_role("group", name="New webhook")
    expect(made).to_contain_text("shown only once")
    url_field = made.get_by_label("URL to POST to", exact=True)
    expect(url_field).to_have_value(re.compile(rf"^http://127\.0\.0\.1:{server.port}/hooks/"))
    expect(made.get_by_role("button", name="Copy the URL")).to_be_visible()
    url = url_field.input_value()
    expect(section.locator(".hook")).to_have_count(1)
    expect(section.locator(".hook")).to_contain_text("ci")
    assert post(url, "build 7 is green") == 204
    for page in (carol, dave):
        posted = message_by(page, "ci")
        expect(posted.locator(".text")).to_have_text("build 7 is green")
        expect(posted.locator(".bot-badge")).to_be_visible()

    with Target() as target:
        # An outgoing hook to a private address is refused, said beside the form.
        section.get_by_label("Outgoing (each message POSTed to a URL)").check()
        section.get_by_label("Name", exact=True).fill("relay")
        section.get_by_label("Target URL").fill("http://10.0.0.1/events")
        section.get_by_role("button", name="Create webhook").click()
        note = section.locator("#hook-note")
        expect(note).to_have_text(re.compile(r"^Could not create the webhook relay: .*public"))
        # One this machine may reach: its secret, shown once, signs what it is sent.
        section.get_by_label("Target URL").fill(target.url)
        section.get_by_role("button", name="Create webhook").click()
        secret_field = made.get_by_label("Signing secret", exact=True)
        expect(secret_field).to_have_value(re.compile(r"^whsec_"))
        expect(made.get_by_role("button", name="Copy the signing secret")).to_be_visible()
        expect(section.locator(".hook")).to_have_count(2)
        expect(section.locator(".hook").nth(1)).to_contain_text(f"outgoing to {target.url}")
        say(dave, "ship it")
        delivered = target.next()
        assert json.loads(delivered.body)["text"] == "ship it"
        assert verified(delivered, secret_field.input_value())
        made.get_by_role("button", name="Done").click()
        expect(made).to_be_hidden()

    # Deleted (asked first): its URL no longer posts.
    section.get_by_role("button", name="Delete the webhook ci", exact=True).click()
    section.get_by_role("button", name="Delete the webhook ci for good").click()
    expect(section.locator(".hook")).to_have_count(1)
    expect(note).to_have_text("Deleted the webhook ci.")
    assert post(url, "too late") == 404
    assert thrown == [[], []]


def test_a_server_without_commands_or_webhooks(
    contexts: list[BrowserContext], server: RunningServer
) -> None:
    """A server before 1.2 answers `commands` and `hooks` with bad_request
    (played here by renaming them on their way): nothing breaks."""

    def older(route: WebSocketRoute) -> None:
        upstream = route.connect_to_server()

        def to_server(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame.get("type") in ("commands", "command", "hooks", "hook", "unhook"):
                frame["type"] = f"unknown-{frame['type']}"
            upstream.send(json.dumps(frame))

        route.on_message(to_server)

    page = open_page(contexts[0], server)
    page.route_web_socket(re.compile(r"/ws$"), older)
    thrown = watch(page)
    sign_up(page, "olga")
    join(page, "old")
    page.get_by_role("button", name="Settings", exact=True).click()
    page.get_by_role("button", name="Webhooks").click()
    expect(page.get_by_role("button", name="Webhooks")).to_be_hidden()
    expect(page.get_by_role("region", name="Webhooks")).to_be_hidden()
    field(page).press_sequentially("/")
    expect(menu(page)).to_contain_text("No commands here")
    field(page).press_sequentially("roll 6")
    field(page).press("Enter")
    expect(page.locator("#chat-error")).to_have_text(re.compile(r"^No command /roll\."))
    field(page).fill("//roll 6")
    field(page).press("Enter")
    expect(message_by(page, "olga").locator(".text")).to_have_text("/roll 6")
    assert thrown == []
