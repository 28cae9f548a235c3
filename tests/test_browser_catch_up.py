"""The web client after issue 22: presence lines only for real arrivals and
departures (item 13), your own messages never new nor unread (item 14), a
login with a name nobody has offers to sign up (item 12), an invitation of
an unknown user said plainly (item 2), and catching up after a reconnect:
edits and deletes missed meanwhile, and invitations sent while offline
(item 11)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, WebSocketRoute, expect

from tests.blackbox import RunningServer, hello, receive_until, said, send
from tests.browser import (
    PASSWORD,
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
    say,
    sign_up,
    skip_without_chromium,
    status,
    stored_texts,
    token_of,
    welcome,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")

MINUTE_AND_A_BIT = 61_000  # ms: past the client's one minute of grace


def presence_lines(page: Page) -> list[str]:
    return messages(page).locator(".presence").all_inner_texts()


def listing(page: Page) -> list[str]:
    """The open room's list, in order: each message's text, NEW for the
    "New messages" line, presence lines as they read."""
    texts: list[str] = page.locator("#messages > li").evaluate_all(
        """items => items.filter(li => !li.classList.contains('day')).map(li =>
             li.classList.contains('new-divider') ? 'NEW'
             : (li.querySelector('.text')?.textContent ?? li.textContent))"""
    )
    return texts


def test_presence_lines_only_for_real_arrivals_and_departures(
    context: BrowserContext, server: RunningServer
) -> None:
    context.clock.install()  # the page's timers, to jump over its minute
    page = open_page(context, server)
    sign_up(page, "mona")
    join(page, "general")
    lines = messages(page).locator(".presence")
    bob_token = server.token("bob")
    bob = hello(server, "bob", bob_token)
    joined(bob, "general")
    expect(members(page).get_by_text("bob")).to_be_visible()
    expect(lines).to_have_text(["bob joined"])  # never seen here before

    # bob reloads: gone and back within seconds. Neither line, then or later.
    bob.close()
    expect(members(page).get_by_text("bob")).to_have_count(0)
    bob = hello(server, "bob", bob_token)
    joined(bob, "general")
    expect(members(page).get_by_text("bob")).to_be_visible()
    page.clock.fast_forward(MINUTE_AND_A_BIT)
    say(page, "anyone around?")
    expect(
        messages(page).locator(".message:not(.pending)", has_text="anyone around?")
    ).to_be_visible()
    assert presence_lines(page) == ["bob joined"]

    # bob goes for good: "bob left" once he has been away a minute, and
    # "bob joined" when he is back after that.
    bob.close()
    expect(members(page).get_by_text("bob")).to_have_count(0)
    page.clock.fast_forward(30_000)
    say(page, "gone?")
    expect(messages(page).locator(".message:not(.pending)", has_text="gone?")).to_be_visible()
    assert presence_lines(page) == ["bob joined"]
    page.clock.fast_forward(31_000)
    expect(lines).to_have_text(["bob joined", "bob left"])
    bob = hello(server, "bob", bob_token)
    joined(bob, "general")
    expect(lines).to_have_text(["bob joined", "bob left", "bob joined"])
    bob.close()

    # A direct conversation never has presence lines, however long carol
    # is away.
    carol_token = server.token("carol")
    carol = hello(server, "carol", carol_token)
    send(carol, type="direct", user="mona")
    direct = receive_until(carol, "joined")["room"]
    said(carol, direct, "psst, mona")
    page.locator("#direct-rooms").get_by_role("button", name="carol", exact=True).click()
    expect(messages(page).get_by_text("psst, mona")).to_be_visible()
    expect(members(page).get_by_text("carol")).to_be_visible()
    carol.close()
    expect(members(page).get_by_text("carol")).to_have_count(0)
    page.clock.fast_forward(MINUTE_AND_A_BIT)
    carol = hello(server, "carol", carol_token)
    send(carol, type="direct", user="mona")
    receive_until(carol, "joined")
    said(carol, direct, "back again")
    expect(messages(page).get_by_text("back again")).to_be_visible()
    expect(members(page).get_by_text("carol")).to_be_visible()
    assert presence_lines(page) == []
    carol.close()


def wait_until(page: Page, condition: Any, what: str, seconds: float = 10) -> None:
    """Poll `condition`, waiting in Playwright (whose routes only forward
    WebSocket frames while it runs), until it holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(100)


def unread_on_server(server: RunningServer, token: str, room: str) -> int | None:
    ws, frame = welcome(server, token)
    ws.close()
    return next((r.get("unread") for r in frame.get("rooms", []) if r["room"] == room), None)


def test_own_messages_are_never_new_nor_unread(
    context: BrowserContext, server: RunningServer
) -> None:
    # Every WebSocket of the page goes through here; while `stalled`, what
    # the server sends it is lost (as over a network that stalled).
    stalled = False
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        upstream = ws.connect_to_server()
        upstream.on_message(lambda message: None if stalled else ws.send(message))

    context.route_web_socket(re.compile(r"/ws$"), route)
    page = open_page(context, server)
    sign_up(page, "nina")
    token = token_of(page)
    join(page, "general")
    bob = hello(server, "bob")
    joined(bob, "general")
    post(bob, "general", "old news")
    expect(messages(page).get_by_text("old news")).to_be_visible()
    wait_until(page, lambda: unread_on_server(server, token, "general") == 0, "nina read general")
    join(page, "ops")
    joined(bob, "ops")
    post(bob, "ops", "morning")
    expect(messages(page).get_by_text("morning")).to_be_visible()

    # nina's message reaches the server, its echo does not; bob answers;
    # the connection drops and the page catches up with both.
    stalled = True
    say(page, "mine, sent into a stall")
    wait_until(
        page, lambda: "mine, sent into a stall" in stored_texts(server, token, "ops"), "stored"
    )
    post(bob, "ops", "a reply to nina")
    stalled = False
    sockets[-1].close()
    expect(messages(page).get_by_text("a reply to nina")).to_be_visible(timeout=15000)
    expect(status(page)).to_have_text("connected")
    expect(page.locator(".pending")).to_have_count(0)
    shown = listing(page)
    assert shown.index("mine, sent into a stall") < shown.index("NEW"), shown
    assert shown.index("NEW") == shown.index("a reply to nina") - 1, shown

    # From nina's phone, then bob, in general: one unread, here and after a reload.
    phone = hello(server, "nina", token)
    joined(phone, "general")
    post(phone, "general", "from my phone", "still me")
    post(bob, "general", "hi nina")
    expect(your_rooms(page).get_by_label("1 unread")).to_be_visible()
    expect(page).to_have_title("(1) chatroom")
    page.reload()
    expect(status(page)).to_have_text("connected")
    expect(members(page).get_by_text("nina")).to_be_visible()
    expect(page).to_have_title("(1) chatroom")
    expect(your_rooms(page).get_by_label("1 unread")).to_be_visible()
    phone.close()
    bob.close()


def test_a_login_with_a_name_nobody_has_offers_to_sign_up(
    context: BrowserContext, server: RunningServer
) -> None:
    page = open_page(context, server)
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("There is no account named newbie here.")
    page.get_by_role("button", name="Sign up as newbie").click()
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page.get_by_label("Username")).to_have_value("newbie")
    page.get_by_label("Password").press("Enter")  # Enter now signs up
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("#me")).to_have_text("newbie")

    # A wrong password for a name that exists says only that.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password").fill("not the password")
    page.get_by_label("Password").press("Enter")
    expect(alert).to_have_text(re.compile("invalid username or password", re.I))
    expect(page.get_by_role("button", name="Sign up as newbie")).to_have_count(0)
    log_in(page, "newbie")


def test_inviting_an_unknown_user_says_so(context: BrowserContext, server: RunningServer) -> None:
    page = open_page(context, server)
    sign_up(page, "olga")
    page.get_by_role("button", name="New room").click()
    page.get_by_label("New room name").fill("plans")
    page.get_by_label("Private", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="# plans")).to_be_visible()
    page.get_by_role("button", name="Settings", exact=True).click()  # the room's settings
    page.get_by_label("Invite user").fill("nobodyatall")
    page.get_by_label("Invite user").press("Enter")
    expect(page.locator("#manage-note")).to_have_text("There is no user named nobodyatall.")


class SwitchableLink:
    """The page's WebSocket, through Playwright: cut it (the page's attempts
    to reconnect then go nowhere), and let the page reconnect at once."""

    def __init__(self, context: BrowserContext) -> None:
        self.online = True
        self.sockets: list[WebSocketRoute] = []
        context.route_web_socket(re.compile(r"/ws$"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)
        if self.online:
            ws.connect_to_server()

    def cut(self, page: Page) -> None:
        self.online = False
        self.sockets.pop().close()
        expect(status(page)).not_to_have_text("connected")

    def restore(self, page: Page) -> None:
        wait_until(page, lambda: bool(self.sockets), "the page tries again")
        self.online = True
        self.sockets.pop().close()  # the page tries again at once


def test_edits_and_deletes_missed_while_away_are_caught_up(
    context: BrowserContext, server: RunningServer
) -> None:
    link = SwitchableLink(context)
    bob = hello(server, "bob")
    joined(bob, "ops")
    first = said(bob, "ops", "the meeting is at 3")
    second = said(bob, "ops", "ignore this one")

    page = open_page(context, server)
    sign_up(page, "nina")
    join(page, "ops")
    expect(messages(page).get_by_text("ignore this one")).to_be_visible()
    link.cut(page)

    send(bob, type="edit", room="ops", id=first, text="the meeting is at 4")
    receive_until(bob, "edited")
    send(bob, type="delete", room="ops", id=second)
    receive_until(bob, "deleted")
    said(bob, "ops", "see you there")

    link.restore(page)
    expect(messages(page).get_by_text("see you there")).to_be_visible()
    edited = messages(page).locator(f'li.message[data-id="{first}"]')
    expect(edited).to_contain_text("the meeting is at 4")
    expect(edited).to_contain_text("(edited)")
    deleted = messages(page).locator(f'li.message[data-id="{second}"]')
    expect(deleted).to_contain_text("message deleted")
    expect(messages(page).get_by_text("ignore this one")).to_have_count(0)
    bob.close()


def test_invitations_sent_while_offline_show_and_can_be_declined(
    context: BrowserContext, server: RunningServer
) -> None:
    ivy_token = register(server, "ivy")
    olga = hello(server, "olga")
    for room in ("plans", "budget"):
        send(olga, type="create", room=room, private=True)
        receive_until(olga, "joined")
        send(olga, type="invite", room=room, user="ivy")
        receive_until(olga, "invited")

    # ivy was not connected: the invitations wait for her.
    page = open_page(context, server)
    log_in(page, "ivy")
    notices = page.get_by_role("list", name="Invitations").get_by_role("listitem")
    expect(notices).to_have_count(2)
    expect(notices.first).to_contain_text("olga invited you to plans")
    expect(notices.last).to_contain_text("olga invited you to budget")
    page.get_by_role("button", name="Decline the invitation to budget").click()
    expect(notices).to_have_count(1)
    page.get_by_role("button", name="Join plans").click()
    expect(page.get_by_role("heading", name="# plans")).to_be_visible()
    expect(notices).to_have_count(0)

    # The server forgot both: a reload brings neither back.
    page.reload()
    expect(status(page)).to_have_text("connected")
    expect(page.get_by_role("heading", name="# plans")).to_be_visible()
    expect(notices).to_have_count(0)
    ws, frame = welcome(server, ivy_token)
    ws.close()
    assert frame["invitations"] == []
    olga.close()


def test_a_rejoin_that_missed_too_many_changes_loads_the_room_again(
    context: BrowserContext, fast_server: RunningServer
) -> None:
    link = SwitchableLink(context)
    bob = hello(fast_server, "bob")
    joined(bob, "busy")
    for i in range(1, 301):
        send(bob, type="send", room="busy", text=f"m{i}")
    while receive_until(bob, "message")["id"] < 300:
        pass
    page = open_page(context, fast_server)
    sign_up(page, "nina")
    join(page, "busy")
    expect(messages(page).get_by_text("m300", exact=True)).to_be_visible()
    link.cut(page)

    # The messages the page holds are changed first, then 250 older ones:
    # the newest 200 changes the rejoin reads are all of messages it never had.
    order = [*range(251, 301), *range(1, 251)]
    for message_id in order:
        send(bob, type="edit", room="busy", id=message_id, text=f"m{message_id}, edited")
    while receive_until(bob, "edited")["id"] != order[-1]:
        pass

    link.restore(page)
    expect(status(page)).to_have_text("connected")
    for message_id in (300, 260):  # (260: its change was not among the rejoin's)
        shown = messages(page).locator(f'li.message[data-id="{message_id}"]')
        expect(shown).to_contain_text(f"m{message_id}, edited")
    bob.close()
