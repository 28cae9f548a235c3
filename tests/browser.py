"""Fixtures and helpers for the web client tests: Debian's Chromium driven by
Playwright, against `python -m chatroom` in a subprocess.

A browser test module makes its fixtures with
`browser = pytest.fixture(launch_browser, scope="module", name="browser")` and
`context = pytest.fixture(new_context, name="context")`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from websockets.sync.client import ClientConnection

from tests.blackbox import (
    RunningServer,
    connect_ws,
    receive,
    receive_until,
    send,
    start_server,
    stop_server,
)

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parent.parent

skip_without_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/test installs it)",
)


def launch_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def new_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    yield context
    context.close()


def open_page(context: BrowserContext, server: RunningServer) -> Page:
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    page.goto(f"http://127.0.0.1:{server.port}/")
    return page


def sign_up(page: Page, user: str) -> None:
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def log_in(page: Page, user: str) -> None:
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def open_drawer(page: Page) -> None:
    """On a narrow screen the room list is a drawer: open it."""
    toggle = page.get_by_role("button", name="Rooms", exact=True)
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def join(page: Page, room: str) -> None:
    open_drawer(page)
    page.get_by_label("Room", exact=True).fill(room)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name=f"# {room}")).to_be_visible()


def say(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def messages(page: Page) -> Locator:
    return page.get_by_role("region", name="Messages")


def members(page: Page) -> Locator:
    return page.get_by_role("region", name="Members")


def your_rooms(page: Page) -> Locator:
    return page.locator("#joined-rooms")


def status(page: Page) -> Locator:
    return page.get_by_role("status")


def token_of(page: Page) -> str:
    token = page.evaluate("localStorage.getItem('chatroom.token')")
    assert isinstance(token, str)
    return token


def register(server: RunningServer, user: str) -> str:
    """Sign up over HTTP; the token."""
    code, body, _ = server.http(
        "POST", "/api/register", body={"username": user, "password": PASSWORD}
    )
    assert code == 201, body
    token = body["token"]
    assert isinstance(token, str)
    return token


def welcome(server: RunningServer, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A websocket client signed in with `token`, and its `welcome`."""
    ws = connect_ws(server)
    send(ws, type="hello", token=token)
    frame = receive(ws)
    assert frame["type"] == "welcome", frame
    return ws, frame


def post(ws: ClientConnection, room: str, *texts: str) -> None:
    """Send `texts` to `room` (joined) and wait until each is stored."""
    for text in texts:
        send(ws, type="send", room=room, text=text)
    for _ in texts:
        receive_until(ws, "message")


def joined(ws: ClientConnection, room: str) -> dict[str, Any]:
    send(ws, type="join", room=room)
    return receive_until(ws, "joined")


def stored_texts(server: RunningServer, token: str, room: str) -> list[str]:
    """Every message text of `room` over HTTP, oldest first (up to 200)."""
    code, body, _ = server.http("GET", f"/api/rooms/{room}/messages?limit=200", token=token)
    assert code == 200, body
    return [m["text"] for m in body["messages"]]


def settle(page: Page) -> None:
    """Wait two animation frames, so scroll events have been handled."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wait_at_bottom(page: Page) -> None:
    """The message list is scrolled to its end (or reaches it within 5 s)."""
    page.wait_for_function(
        "() => { const s = document.getElementById('scroller');"
        " return s.scrollHeight - s.scrollTop - s.clientHeight < 2; }",
        timeout=5000,
    )


def restart(server: RunningServer, *args: str) -> RunningServer:
    """Stop `server` (SIGTERM, cleanly) and start it again on its port and data."""
    assert stop_server(server) == 0
    return start_server(server.data_dir, *args, port=server.port)


def watch(page: Page) -> list[str]:
    """Errors thrown in `page`, to assert none after."""
    thrown: list[str] = []
    page.on("pageerror", lambda error: thrown.append(str(error)))
    return thrown


def contexts_for(browser: Browser, n: int) -> list[BrowserContext]:
    """`n` browser contexts with a desktop-sized viewport."""
    return [browser.new_context(viewport={"width": 1100, "height": 700}) for _ in range(n)]
