"""Notifications, mentions and the People directory in the web client
(protocol 1.2, issue 27), against one real server: a hidden page notifies
(a recording Notification, a counted Web Audio sound) for a direct message
and a mention, never for the user's own message, a muted room or a plain
message, and counts on the favicon; `@` lists the room's members and then
the directory, the message sent is highlighted for the one mentioned, and
the Mentions box opens its room at it; People finds users by prefix with
online dots and a bot's badge, and opens a direct conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    receive_until,
    run_chatroom,
    send,
    start_server,
    stop_server,
)
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
    token_of,
    watch,
    welcome,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")

# Before the page's scripts: Notification records what is constructed (and
# still shows it), the page's visibility is the test's to set, and each
# sound made (an oscillator) is counted.
RECORDING = """
window.__notes = [];
window.__asked = 0;
window.__sounds = 0;
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options = {}) {
    super(title, options);
    window.__notes.push({ title, body: options.body ?? "", note: this });
  }
  static requestPermission() {
    window.__asked += 1;
    return Real.requestPermission();
  }
};
let hidden = false;
window.__setHidden = (value) => {
  hidden = value;
  document.dispatchEvent(new Event("visibilitychange"));
};
Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get: () => (hidden ? "hidden" : "visible"),
});
const oscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__sounds += 1;
  return oscillator.call(this);
};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module's tests (each uses its own users and rooms)."""
    running = start_server(Path(tmp_path_factory.mktemp("notify")) / "data")
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


def notes(page: Page) -> list[list[str]]:
    """[title, body] of each notification constructed so far."""
    found: list[list[str]] = page.evaluate("__notes.map((n) => [n.title, n.body])")
    return found


def wait_notes(page: Page, count: int) -> list[list[str]]:
    page.wait_for_function("(n) => window.__notes.length >= n", arg=count, timeout=5000)
    return notes(page)


def room_item(page: Page, list_id: str, name: str) -> Locator:
    return page.locator(f"#{list_id} li").filter(has_text=name)


def direct_with(ws: ClientConnection, user: str) -> str:
    """Open the direct room with `user`; its name."""
    send(ws, type="direct", user=user)
    room: str = receive_until(ws, "joined")["room"]
    return room


def test_notifications_for_direct_messages_and_mentions_only(
    browser: Browser, server: RunningServer
) -> None:
    (context,) = contexts_for(browser, 1)
    context.grant_permissions(["notifications"])
    context.add_init_script(RECORDING)
    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "nina")
    toggle = page.get_by_role("button", name="Turn on notifications")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()  # the user's gesture: nothing was asked at load
    expect(page.locator("#notify-toggle")).to_have_text("Notifications on")
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("__asked") == 0  # granted already: no prompt at all

    join(page, "quiet")
    page.get_by_role("button", name="Mute").click()
    expect(page.get_by_role("button", name="Mute")).to_have_attribute("aria-pressed", "true")
    expect(room_item(page, "joined-rooms", "quiet").locator(".muted-mark")).to_have_text("muted")
    join(page, "lobby")

    omar = welcome(server, register(server, "omar"))[0]
    joined(omar, "lobby")
    joined(omar, "quiet")
    dm = direct_with(omar, "nina")
    page.evaluate("__setHidden(true)")

    post(omar, dm, "psst, nina")
    assert wait_notes(page, 1) == [["omar", "psst, nina"]]
    post(omar, "lobby", "hey @nina, look at **this**")
    mentioned = ["omar mentioned you in # lobby", "hey @nina, look at **this**"]
    assert wait_notes(page, 2)[1] == mentioned

    # Nothing for a plain message, a muted room, nor the user's own message
    # (from another device), each seen by the page (its unread counts).
    post(omar, "lobby", "nothing for nina")
    post(omar, "quiet", "@nina, quietly")
    expect(room_item(page, "joined-rooms", "lobby").locator(".badge")).to_have_text("2")
    expect(room_item(page, "joined-rooms", "quiet").locator(".badge")).to_have_text("1")
    me = welcome(server, token_of(page))[0]
    joined(me, dm)
    post(me, dm, "from my phone, @nina")
    expect(room_item(page, "direct-rooms", "omar").locator(".badge")).to_have_count(0)
    assert len(notes(page)) == 2
    assert page.evaluate("__sounds") == 2
    # The count of unread messages (not a muted room's): title and favicon.
    expect(page).to_have_title("(2) chatroom")
    icon = page.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("data-count", "2")
    assert (icon.get_attribute("href") or "").startswith("data:image/png;base64,")

    # Sound off: a notification still, no sound.
    page.get_by_role("button", name="Sound").click()
    expect(page.get_by_role("button", name="Sound")).to_have_attribute("aria-pressed", "false")
    post(omar, dm, "one more")
    assert wait_notes(page, 3)[2] == ["omar", "one more"]
    assert page.evaluate("__sounds") == 2

    # A notification clicked opens its room at the message.
    page.evaluate("__notes[1].note.onclick()")
    expect(page.get_by_role("heading", name="# lobby")).to_be_visible()
    highlighted = messages(page).locator("li.message.mentions-me")
    expect(highlighted.filter(has_text="look at")).to_have_count(1)
    for ws in (omar, me):
        ws.close()
    assert thrown == []
    context.close()


def test_mention_autocomplete_highlight_and_mentions_box(
    browser: Browser, server: RunningServer
) -> None:
    contexts = contexts_for(browser, 2)
    pia, quinn = (open_page(context, server) for context in contexts)
    thrown = watch(pia) + watch(quinn)
    sign_up(pia, "pia")
    sign_up(quinn, "quinn")
    register(server, "quincy")  # in the directory, not in the room
    join(quinn, "plaza")
    join(pia, "plaza")

    field = pia.get_by_label("Message", exact=True)
    field.press_sequentially("@qu")
    menu = pia.get_by_role("listbox", name="People to mention")
    # The room's member first, then the directory's.
    expect(menu.locator(".command-name")).to_have_text(["@quinn", "@quincy"])
    field.press("Tab")
    expect(field).to_have_value("@quinn ")
    expect(menu).to_be_hidden()
    field.press_sequentially("see this")
    field.press("Enter")

    mention = messages(quinn).locator("li.message.mentions-me").filter(has_text="see this")
    expect(mention).to_have_count(1)
    join(quinn, "elsewhere")
    button = quinn.get_by_role("button", name="Mentions")
    expect(button.locator(".badge")).to_have_text("1")
    button.click()
    found = quinn.get_by_role("dialog", name="Mentions of you").locator("button.mention-hit")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("pia")
    expect(found).to_contain_text("# plaza")
    found.click()
    expect(quinn.get_by_role("heading", name="# plaza")).to_be_visible()
    expect(messages(quinn).locator("li.message.found")).to_contain_text("@quinn see this")
    assert thrown == []
    for context in contexts:
        context.close()


def test_people_directory_starts_a_direct_conversation(
    browser: Browser, server: RunningServer
) -> None:
    (context,) = contexts_for(browser, 1)
    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "rita")
    dira = welcome(server, register(server, "dira"))[0]  # online
    register(server, "dirb")
    run_chatroom(
        "user",
        "add",
        "dirbot",
        "--bot",
        "--owner",
        "dira",
        "--data-dir",
        str(server.data_dir),
        check=True,
    )

    page.get_by_role("button", name="People").click()
    page.get_by_label("Find people").fill("DIR")
    directory = page.get_by_role("list", name="Directory")
    people = directory.locator("li.person")
    expect(people.locator(".person-name")).to_have_text(["dira", "dirb", "dirbot"])
    expect(people.nth(0).locator(".online-dot.online")).to_have_count(1)
    expect(people.nth(1).locator(".online-dot.online")).to_have_count(0)
    expect(people.nth(2).locator(".bot-badge")).to_have_count(1)

    people.nth(0).get_by_role("button").click()
    expect(page.get_by_role("dialog", name="People")).to_be_hidden()
    expect(page.get_by_role("heading", name="@dira")).to_be_visible()
    expect(room_item(page, "direct-rooms", "dira")).to_have_count(1)
    say(page, "hello from the directory")
    assert receive_until(dira, "message")["text"] == "hello from the directory"
    dira.close()
    assert thrown == []
    context.close()
