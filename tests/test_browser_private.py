"""Private rooms in the web client: the New room form, the Invite and Unban
fields of the owner and moderators (in the room's settings), the invitation
notice with its Join button, and the private marks in the room header and
All rooms."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.blackbox import RunningServer, receive_until, send
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
    your_rooms,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")


def all_rooms(page: Page) -> Locator:
    return page.locator("#all-rooms")


def listed(page: Page, room: str) -> Locator:
    """`room`'s entry in All rooms."""
    return (
        all_rooms(page)
        .get_by_role("listitem")
        .filter(has=page.get_by_role("button", name=f"# {room}", exact=True))
    )


def create(page: Page, room: str, *, private: bool = False, topic: str = "") -> None:
    """Fill in and send the New room form (opening it first)."""
    toggle = page.get_by_role("button", name="New room")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
        expect(page.get_by_label("New room name")).to_be_focused()
    page.get_by_label("New room name").fill(room)
    page.get_by_label("Private", exact=True).set_checked(private)
    page.get_by_label("New room topic").fill(topic)
    page.get_by_role("button", name="Create").click()


def manage_note(page: Page) -> Locator:
    return page.locator("#manage-note")


def open_settings(page: Page) -> Locator:
    """The room's settings panel (Invite, Unban, the members' controls), opened."""
    page.get_by_role("button", name="Settings", exact=True).click()
    panel = page.get_by_role("region", name="Room settings")
    expect(panel).to_be_visible()
    return panel


def test_private_room_invitation_and_unban(browser: Browser, server: RunningServer) -> None:
    contexts = contexts_for(browser, 3)
    olga, eve, ivy = (open_page(c, server) for c in contexts)
    thrown = [watch(page) for page in (olga, eve, ivy)]
    for page, user in ((olga, "olga"), (eve, "eve"), (ivy, "ivy")):
        sign_up(page, user)
    join(ivy, "lobby")  # ivy waits in another room

    # olga makes a private room with the New room form; it opens at once.
    create(olga, "plans", private=True, topic="Q3 <b>plans</b>")
    expect(olga.get_by_role("heading", name="# plans")).to_be_visible()
    expect(olga.get_by_label("New room name")).to_be_hidden()
    expect(olga.get_by_role("button", name="New room")).to_have_attribute("aria-expanded", "false")
    expect(olga.locator("#room-private")).to_have_text("Private")
    expect(olga.locator("#room-private")).to_be_visible()
    expect(olga.get_by_label("Room topic", exact=True)).to_have_text("Q3 <b>plans</b>")
    expect(your_rooms(olga).get_by_role("button", name="# plans")).to_be_visible()
    expect(listed(olga, "plans")).to_contain_text("(private)")
    say(olga, "the plan")
    expect(messages(olga).get_by_text("the plan")).to_be_visible()

    # eve does not see it, and joining it by name is refused in words.
    join(eve, "lobby")
    expect(listed(eve, "lobby")).to_be_visible()
    expect(listed(eve, "lobby")).not_to_contain_text("(private)")
    expect(listed(eve, "plans")).to_have_count(0)
    eve.get_by_label("Room", exact=True).fill("plans")
    eve.get_by_role("button", name="Join", exact=True).click()
    expect(eve.locator("#chat-error")).to_have_text(
        "Could not join # plans: This room is private: its owner or a moderator must invite you."
    )
    expect(eve.get_by_role("heading", name="# lobby")).to_be_visible()
    expect(your_rooms(eve).get_by_role("button", name="# plans")).to_have_count(0)
    # Nor has she the Invite and Unban fields of a public room she does not run.
    expect(eve.get_by_role("button", name="Settings", exact=True)).to_be_hidden()
    expect(eve.get_by_label("Invite user")).to_be_hidden()
    expect(eve.get_by_label("Unban user")).to_be_hidden()

    # olga invites ivy with the Invite field of the room's settings.
    panel = open_settings(olga)
    olga.get_by_label("Invite user").fill("ivy")
    olga.get_by_role("button", name="Invite", exact=True).click()
    expect(manage_note(olga)).to_have_text("Invited ivy to # plans.")
    expect(olga.get_by_label("Invite user")).to_have_value("")

    # ivy's page, in another room, says so; Join opens the room with its messages.
    notice = ivy.get_by_role("list", name="Invitations").get_by_role("listitem")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("olga invited you to plans")
    expect(listed(ivy, "plans")).to_contain_text("(private)")
    notice.get_by_role("button", name="Join plans").click()
    expect(ivy.get_by_role("heading", name="# plans")).to_be_visible()
    expect(messages(ivy).get_by_text("the plan")).to_be_visible()
    expect(notice).to_have_count(0)
    expect(ivy.locator("#room-private")).to_be_visible()
    expect(members(olga).get_by_text("ivy", exact=True)).to_be_visible()
    # ivy is a member: no Invite for her.
    expect(ivy.get_by_label("Invite user")).to_be_hidden()

    # A ban, then olga lifts it with the Unban field; ivy can be invited again.
    panel.get_by_role("button", name="Ban ivy").click()
    panel.get_by_role("form", name="Ban ivy?").get_by_role("button", name="Ban").click()
    expect(ivy.locator("#chat-error")).to_contain_text("You were removed from # plans by olga")
    olga.get_by_label("Invite user").fill("ivy")
    olga.get_by_label("Invite user").press("Enter")
    expect(manage_note(olga)).to_have_text(
        "Could not invite ivy to # plans. "
        "They may be banned from it, or you are no longer its owner or a moderator."
    )
    olga.get_by_label("Unban user").fill("ivy")
    olga.get_by_role("button", name="Unban", exact=True).click()
    expect(manage_note(olga)).to_have_text("Unbanned ivy in # plans.")
    olga.get_by_label("Invite user").fill("ivy")
    olga.get_by_label("Invite user").press("Enter")
    expect(manage_note(olga)).to_have_text("Invited ivy to # plans.")
    expect(notice).to_contain_text("olga invited you to plans")

    assert thrown == [[], [], []]
    for c in contexts:
        c.close()


def test_create_refusals_are_said_in_words(browser: Browser, server: RunningServer) -> None:
    ws, _ = welcome(server, server.token("dora"))
    joined(ws, "Lounge")
    send(ws, type="create", room="plans", private=True)
    receive_until(ws, "joined")
    (context,) = contexts_for(browser, 1)
    olga = open_page(context, server)
    thrown = watch(olga)
    sign_up(olga, "olga")
    join(olga, "lobby")

    # A name taken (in any case, even private and unseen): said beside the form.
    for name, shown in (("lounge", "lounge"), ("PLANS", "PLANS")):
        create(olga, name)
        expect(olga.locator("#create-error")).to_have_text(f"A room named {shown} already exists.")
        expect(olga.get_by_role("heading", name="# lobby")).to_be_visible()
        expect(your_rooms(olga).get_by_role("listitem")).to_have_count(1)
        expect(olga.get_by_label("New room name")).to_be_focused()
        expect(olga.get_by_label("New room name")).to_have_value(name)
    expect(olga.get_by_label("New room name")).to_be_visible()
    create(olga, "no spaces")
    expect(olga.locator("#create-error")).to_have_text(
        "Room names are 1 to 64 letters, digits, dots, dashes or underscores."
    )
    expect(olga.get_by_label("New room name")).to_be_focused()
    # Cancel closes it; the next one opens clean, and a public room has no mark.
    olga.get_by_role("button", name="Cancel").click()
    expect(olga.get_by_label("New room name")).to_be_hidden()
    expect(olga.get_by_role("button", name="New room")).to_be_focused()
    create(olga, "open-room")
    expect(olga.get_by_role("heading", name="# open-room")).to_be_visible()
    expect(olga.locator("#room-private")).to_be_hidden()
    # Owner of a public room: Unban, but no Invite.
    open_settings(olga)
    expect(olga.get_by_label("Unban user")).to_be_visible()
    expect(olga.get_by_label("Invite user")).to_be_hidden()
    expect(olga.locator("#create-error")).to_have_text("")
    assert thrown == []
    ws.close()
    context.close()
