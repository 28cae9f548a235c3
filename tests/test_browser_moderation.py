"""Moderation in the web client: role badges, the owner giving and taking the
moderator role, the room's topic set live, and a kick with its reason on the
kicked member's page (the room gone from it, and not rejoined). The controls
are in the room's settings panel (Settings in the room's header)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Locator, Page, WebSocketRoute, expect

from tests.blackbox import RunningServer
from tests.browser import (
    join,
    joined,
    launch_browser,
    members,
    open_page,
    sign_up,
    skip_without_chromium,
    watch,
    welcome,
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")


def member(page: Page, user: str) -> Locator:
    """`user`'s entry in the Members list."""
    return (
        members(page)
        .get_by_role("listitem")
        .filter(has=page.locator(".member-name").get_by_text(user, exact=True))
    )


def topic(page: Page) -> Locator:
    return page.get_by_label("Room topic", exact=True)


def settings(page: Page) -> Locator:
    return page.get_by_role("region", name="Room settings")


def open_settings(page: Page) -> None:
    page.get_by_role("button", name="Settings", exact=True).click()
    expect(settings(page)).to_be_visible()


def moderated(page: Page, user: str) -> Locator:
    """`user`'s entry among the members in the room's settings."""
    return (
        settings(page)
        .get_by_role("listitem")
        .filter(has=page.locator(".member-name").get_by_text(user, exact=True))
    )


def test_roles_topic_and_kick(browser: Browser, server: RunningServer) -> None:
    contexts = [browser.new_context(viewport={"width": 1100, "height": 700}) for _ in range(3)]
    olga, bob, carol = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (olga, bob, carol)]
    for page, user in ((olga, "olga"), (bob, "bob"), (carol, "carol")):
        sign_up(page, user)
        join(page, "club")  # olga first: she owns it
    for page in (olga, bob, carol):
        expect(members(page).get_by_role("listitem")).to_have_count(3)
        expect(member(page, "olga").locator(".role")).to_have_text("owner")
        expect(member(page, "bob").locator(".role")).to_have_count(0)

    # Members have no controls, nor Settings; the owner has them in her
    # room's settings (not under the members) for everyone but herself.
    expect(members(bob).get_by_role("button")).to_have_count(0)
    expect(bob.get_by_role("button", name="Settings", exact=True)).to_be_hidden()
    expect(bob.get_by_role("button", name="Edit topic")).to_be_hidden()
    expect(members(olga).get_by_role("button")).to_have_count(0)
    open_settings(olga)
    expect(moderated(olga, "olga").get_by_role("button")).to_have_count(0)
    for user in ("bob", "carol"):
        for name in (f"Kick {user}", f"Ban {user}", f"Make {user} moderator"):
            control = moderated(olga, user).get_by_role("button", name=name, exact=True)
            expect(control).to_be_visible()

    # The owner makes bob a moderator: every page shows his badge.
    moderated(olga, "bob").get_by_role("button", name="Make bob moderator").click()
    for page in (olga, bob, carol):
        expect(member(page, "bob").locator(".role")).to_have_text("mod")
    demote = moderated(olga, "bob").get_by_role("button", name="Remove bob as moderator")
    expect(demote).to_be_visible()
    # A moderator may kick and ban members, not the owner, and gives no roles.
    open_settings(bob)
    expect(moderated(bob, "olga").get_by_role("button")).to_have_count(0)
    expect(moderated(bob, "carol").get_by_role("button", name="Kick carol")).to_be_visible()
    expect(moderated(bob, "carol").get_by_role("button", name="Ban carol")).to_be_visible()
    expect(bob.get_by_role("button", name="Make carol moderator")).to_have_count(0)

    # The topic, set by the owner, shows on every page at once; Escape gives up.
    expect(topic(olga)).to_be_hidden()
    olga.get_by_role("button", name="Edit topic").click()
    field = olga.get_by_label("Topic", exact=True)
    expect(field).to_be_focused()
    expect(field).to_have_attribute("maxlength", "200")
    field.fill("Knitting, <b>mostly</b>")
    field.press("Enter")
    for page in (olga, bob, carol):
        expect(topic(page)).to_have_text("Knitting, <b>mostly</b>")
    assert carol.locator(".room-head b").count() == 0
    expect(olga.get_by_role("button", name="Edit topic")).to_be_focused()
    olga.get_by_role("button", name="Edit topic").click()
    field.fill("never sent")
    field.press("Escape")
    expect(field).to_be_hidden()
    expect(olga.get_by_role("button", name="Edit topic")).to_be_focused()
    expect(topic(carol)).to_have_text("Knitting, <b>mostly</b>")

    # A moderator sets it too; taking the role back takes the button away.
    bob.get_by_role("button", name="Edit topic").click()
    bob.get_by_label("Topic", exact=True).fill("Knitting only")
    bob.get_by_label("Topic", exact=True).press("Enter")
    expect(topic(olga)).to_have_text("Knitting only")
    demote.click()
    for page in (olga, bob, carol):
        expect(member(page, "bob").locator(".role")).to_have_count(0)
    expect(bob.get_by_role("button", name="Edit topic")).to_be_hidden()
    expect(settings(bob)).to_be_hidden()
    expect(bob.get_by_role("button", name="Settings", exact=True)).to_be_hidden()
    expect(members(bob).get_by_role("button")).to_have_count(0)

    # A kick asks for a reason in the page; Cancel keeps everything.
    moderated(olga, "bob").get_by_role("button", name="Kick bob").click()
    form = settings(olga).get_by_role("form", name="Kick bob?")
    expect(form.get_by_label("Reason (optional)")).to_be_focused()
    form.get_by_role("button", name="Cancel").click()
    expect(form).to_have_count(0)
    expect(moderated(olga, "bob").get_by_role("button", name="Kick bob")).to_be_focused()
    moderated(olga, "bob").get_by_role("button", name="Kick bob").click()
    form.get_by_label("Reason (optional)").fill("calm <i>down</i>")
    form.get_by_role("button", name="Kick", exact=True).click()

    # bob's page says who and why, and the room is gone from it.
    expect(bob.get_by_role("alert")).to_have_text(
        "You were removed from # club by olga: calm <i>down</i>"
    )
    assert bob.locator("#chat-error i").count() == 0
    expect(your_rooms(bob).get_by_text("# club")).to_have_count(0)
    expect(bob.get_by_role("heading", name="Join a room to start")).to_be_visible()
    for page in (olga, carol):
        expect(members(page).get_by_role("listitem")).to_have_count(2)
        expect(member(page, "bob")).to_have_count(0)
    # Not rejoined: not after a reload either (nor among bob's rooms on the server).
    bob.reload()
    expect(bob.get_by_role("button", name="Log out")).to_be_visible()
    expect(bob.get_by_role("status")).to_have_text("connected")
    expect(your_rooms(bob).get_by_role("listitem")).to_have_count(0)
    expect(members(olga).get_by_role("listitem")).to_have_count(2)

    assert thrown == [[], [], []]
    for c in contexts:
        c.close()


def test_refusals_are_said_in_words(browser: Browser, server: RunningServer) -> None:
    """The server's refusals, provoked by rewriting what the page sends."""

    def rewrite(route: WebSocketRoute) -> None:
        upstream = route.connect_to_server()

        def to_server(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame.get("type") == "ban":
                frame["user"] = "olga"  # nobody bans the owner, not even herself
            elif frame.get("type") == "topic":
                frame["topic"] = "x" * 300
            upstream.send(json.dumps(frame))

        route.on_message(to_server)

    context = browser.new_context(viewport={"width": 1100, "height": 700})
    olga = open_page(context, server)
    olga.route_web_socket(re.compile(r"/ws$"), rewrite)
    thrown = watch(olga)
    sign_up(olga, "olga")
    join(olga, "den")
    ws, _ = welcome(server, server.token("dora"))
    joined(ws, "den")
    error = olga.locator("#chat-error")

    open_settings(olga)
    moderated(olga, "dora").get_by_role("button", name="Ban dora").click()
    form = settings(olga).get_by_role("form", name="Ban dora?")
    form.get_by_label("Reason (optional)").press("Enter")
    expect(error).to_have_text(
        "Could not ban dora from # den. You are not allowed to do that (any more)."
    )
    expect(member(olga, "dora")).to_have_count(1)

    olga.get_by_role("button", name="Edit topic").click()
    olga.get_by_label("Topic", exact=True).fill("short")
    olga.get_by_label("Topic", exact=True).press("Enter")
    expect(error).to_have_text(re.compile(r"^Could not change the topic of # den\. \S"))
    expect(topic(olga)).to_be_hidden()
    assert thrown == []
    ws.close()
    context.close()
