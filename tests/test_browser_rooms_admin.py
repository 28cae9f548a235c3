"""Rooms in the web client (issue 27): each room's address (a shared link
opens the room; Back and Forward switch rooms), the room list's groups, the
room settings panel that holds the moderation controls, the service worker
that opens the page offline, and the 360 px layout with the Members panel."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.blackbox import RunningServer, receive_until
from tests.browser import (
    contexts_for,
    join,
    joined,
    launch_browser,
    members,
    open_drawer,
    open_page,
    register,
    say,
    sign_up,
    skip_without_chromium,
    status,
    watch,
    welcome,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")


def heading(page: Page, name: str) -> Locator:
    return page.get_by_role("heading", name=name, exact=True)


def group(page: Page, title: str) -> Locator:
    """The room list's group under the heading `title`."""
    return page.locator(".room-group").filter(has=heading(page, title))


def settings(page: Page) -> Locator:
    return page.get_by_role("region", name="Room settings")


def open_settings(page: Page) -> Locator:
    page.get_by_role("button", name="Settings", exact=True).click()
    panel = settings(page)
    expect(panel).to_be_visible()
    return panel


def test_addresses_back_forward_shared_links_and_groups(
    browser: Browser, server: RunningServer
) -> None:
    bob, _ = welcome(server, register(server, "bob"))
    joined(bob, "lobby")
    (context,) = contexts_for(browser, 1)
    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "alice")
    join(page, "lobby")
    expect(page).to_have_url(f"http://127.0.0.1:{server.port}/#/room/lobby")
    join(page, "garden")
    expect(page).to_have_url(f"http://127.0.0.1:{server.port}/#/room/garden")

    # Back and Forward switch rooms.
    page.go_back()
    expect(heading(page, "# lobby")).to_be_visible()
    page.go_forward()
    expect(heading(page, "# garden")).to_be_visible()

    # A direct room: its own address, listed under Direct; the others under Rooms.
    group(page, "Rooms").get_by_role("button", name="# lobby").click()
    members(page).get_by_role("link", name="Message bob").click()
    expect(heading(page, "@bob")).to_be_visible()
    direct_url = f"http://127.0.0.1:{server.port}/#/room/%40alice%2Cbob"
    expect(page).to_have_url(direct_url)
    expect(group(page, "Direct").get_by_role("button", name="bob", exact=True)).to_be_visible()
    rooms = group(page, "Rooms").get_by_role("button", name=re.compile("^# "))
    expect(rooms).to_have_text(["# lobby", "# garden"])
    expect(heading(page, "Archived")).to_be_hidden()
    page.go_back()
    expect(heading(page, "# lobby")).to_be_visible()

    # Shared links, opened in new pages (signed in from the stored token):
    # a room not joined yet is joined, and the direct room opens.
    shared = context.new_page()
    shared_thrown = watch(shared)
    shared.goto(f"http://127.0.0.1:{server.port}/#/room/porch")
    expect(heading(shared, "# porch")).to_be_visible()
    expect(status(shared)).to_have_text("connected")
    expect(members(shared).get_by_text("alice", exact=True)).to_be_visible()
    say(shared, "on the porch")
    expect(shared.get_by_text("on the porch")).to_be_visible()
    shared.goto(direct_url)
    expect(heading(shared, "@bob")).to_be_visible()
    assert thrown == [] and shared_thrown == []
    bob.close()
    context.close()


def test_moderation_in_the_settings_panel(browser: Browser, server: RunningServer) -> None:
    ws, _ = welcome(server, register(server, "bob"))
    (context,) = contexts_for(browser, 1)
    olga = open_page(context, server)
    thrown = watch(olga)
    sign_up(olga, "olga")
    join(olga, "club")  # she owns it
    joined(ws, "club")
    expect(members(olga).get_by_role("listitem")).to_have_count(2)
    # No controls under the members any more: they are in the settings.
    expect(members(olga).get_by_role("button")).to_have_count(0)
    panel = open_settings(olga)
    expect(panel.get_by_role("button", name="Close settings")).to_be_focused()
    bob = panel.get_by_role("listitem").filter(has_text="bob")
    expect(bob.get_by_role("button", name="Make bob moderator")).to_be_visible()
    bob.get_by_role("button", name="Kick bob").click()
    form = panel.get_by_role("form", name="Kick bob?")
    form.get_by_label("Reason (optional)").fill("too loud")
    form.get_by_role("button", name="Kick", exact=True).click()
    kicked = receive_until(ws, "kicked")
    assert (kicked["room"], kicked["reason"]) == ("club", "too loud")
    expect(members(olga).get_by_role("listitem")).to_have_count(1)
    expect(panel.get_by_role("listitem")).to_have_count(1)
    # Escape closes the panel; focus goes back to Settings.
    panel.get_by_role("button", name="Close settings").press("Escape")
    expect(panel).to_be_hidden()
    expect(olga.get_by_role("button", name="Settings", exact=True)).to_be_focused()
    assert thrown == []
    ws.close()
    context.close()


def test_narrow_screen_panels_and_opening_offline(browser: Browser, server: RunningServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "uma")
    join(page, "mobile")
    bob, _ = welcome(server, register(server, "bob"))
    joined(bob, "mobile")

    # The members are a panel over the conversation, opened from its header.
    expect(members(page)).to_be_hidden()
    page.get_by_role("button", name="Members", exact=True).click()
    expect(members(page).get_by_role("listitem")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    members(page).get_by_role("button", name="Close members").click()
    expect(members(page)).to_be_hidden()
    # The settings fit too, and the room lists are a drawer.
    open_settings(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Escape")
    open_drawer(page)
    expect(group(page, "Rooms").get_by_role("button", name="# mobile")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Escape")

    # Once its files are kept, the page opens offline, saying it reconnects.
    expect(page.locator("html[data-offline=ready]")).to_have_count(1)
    context.set_offline(True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    expect(heading(page, "# mobile")).to_be_visible()
    expect(status(page)).to_have_text("reconnecting…")
    expect(page.get_by_text("You are offline.")).to_be_visible()
    context.set_offline(False)
    expect(status(page)).to_have_text("connected")
    expect(page.get_by_text("You are offline.")).to_be_hidden()
    assert thrown == []
    bob.close()
    context.close()


def test_owner_transfers_and_archives(browser: Browser, server: RunningServer) -> None:
    contexts = contexts_for(browser, 2)
    olga, bob = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (olga, bob)]
    for page, user in ((olga, "olga"), (bob, "bob")):
        sign_up(page, user)
        join(page, "attic")  # olga first: she owns it
    say(olga, "old times")
    expect(bob.get_by_role("button", name="Settings", exact=True)).to_be_hidden()

    # The owner hands the room to bob (asked first); she stays a moderator.
    panel = open_settings(olga)
    panel.get_by_label("New owner").fill("bob")
    panel.get_by_role("button", name="Transfer ownership", exact=True).click()
    panel.get_by_role("button", name="Transfer ownership to bob").click()
    expect(panel.locator("#owner-note")).to_have_text("bob is now the owner of # attic.")
    expect(panel.get_by_role("region", name="Ownership")).to_be_hidden()
    for page in (olga, bob):
        expect(members(page).locator(".member", has_text="bob").locator(".role")).to_have_text(
            "owner"
        )
        expect(members(page).locator(".member", has_text="olga").locator(".role")).to_have_text(
            "mod"
        )

    # bob has the owner's controls now, and archives it: nobody can post,
    # and the room moves under Archived, on both pages.
    ownership = open_settings(bob).get_by_role("region", name="Ownership")
    ownership.get_by_role("button", name="Archive room").click()
    expect(ownership.get_by_role("button", name="Unarchive room")).to_be_visible()
    for page in (olga, bob):
        expect(page.get_by_label("Message", exact=True)).to_be_disabled()
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        expect(page.get_by_text("This room is archived")).to_be_visible()
        archived = group(page, "Archived")
        expect(archived.get_by_role("button", name="# attic")).to_be_visible()
        expect(group(page, "Rooms")).to_be_hidden()
        expect(page.get_by_text("old times")).to_be_visible()  # its history stays
    ownership.get_by_role("button", name="Unarchive room").click()
    expect(olga.get_by_label("Message", exact=True)).to_be_enabled()
    expect(group(olga, "Rooms").get_by_role("button", name="# attic")).to_be_visible()
    assert thrown == [[], []]
    for c in contexts:
        c.close()
