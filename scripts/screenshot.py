"""Retake docs/screenshot.png: a realistic afternoon in the web client.

    .venv/bin/python scripts/screenshot.py [OUTPUT]

Starts `python -m chatroom` on a free loopback port with a fresh data dir,
has four people talk (alice in Debian's Chromium, driven by Playwright;
bob, carol and dave over WebSockets): a public room, alice's private room
with her owner badge and carol as moderator, and a direct message from dave
waiting under Direct messages. Takes the screenshot from alice's page and
stops the server. Needs what the browser tests need (scripts/test installs
it); never downloads a browser.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect  # noqa: E402

from tests.blackbox import hello, receive_until, said, send, start_server, stop_server  # noqa: E402
from tests.browser import (  # noqa: E402
    join,
    launch_browser,
    members,
    messages,
    open_page,
    register,
    say,
    sign_up,
)

OUTPUT = ROOT / "docs" / "screenshot.png"


def joined(ws: Any, room: str) -> None:
    send(ws, type="join", room=room)
    receive_until(ws, "joined")


def main(output: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data")
        browsers = launch_browser()
        browser = next(browsers)
        try:
            for user in ("bob", "carol", "dave"):
                register(server, user)
            bob, carol, dave = (hello(server, user) for user in ("bob", "carol", "dave"))
            joined(bob, "general")
            said(bob, "general", "Morning all! Standup moves to 10:30 today.")
            joined(carol, "general")
            said(carol, "general", "Thanks for the heads-up, see you there.")

            context = browser.new_context(viewport={"width": 1200, "height": 720})
            alice = open_page(context, server)
            sign_up(alice, "alice")
            join(alice, "general")
            say(alice, "Morning! I'll bring the launch checklist.")
            expect(messages(alice).get_by_text("launch checklist")).to_be_visible()

            # alice's private room, with a topic; bob and carol invited.
            alice.get_by_role("button", name="New room").click()
            alice.get_by_label("New room name").fill("design")
            alice.get_by_label("Private", exact=True).check()
            alice.get_by_label("New room topic").fill("Homepage redesign: ship by Friday")
            alice.get_by_role("button", name="Create").click()
            expect(alice.get_by_role("heading", name="# design")).to_be_visible()
            for user in ("bob", "carol"):
                alice.get_by_label("Invite user").fill(user)
                alice.get_by_label("Invite user").press("Enter")
                expect(alice.locator("#manage-note")).to_have_text(f"Invited {user} to # design.")
            alice.locator("#manage-note").evaluate("note => (note.textContent = '')")
            joined(bob, "design")
            joined(carol, "design")
            expect(members(alice).get_by_text("carol")).to_be_visible()
            members(alice).get_by_role("button", name="Make carol moderator").click()
            expect(members(alice).get_by_text("mod", exact=True)).to_be_visible()

            said(
                bob,
                "design",
                "Pushed the new hero section to staging: https://staging.example.com/",
            )
            said(
                carol,
                "design",
                "Looks great on desktop. On my phone the headline wraps onto three lines, though.",
            )
            say(alice, "Good catch. Let's cap it at two lines and tighten the copy.")
            expect(messages(alice).get_by_text("tighten the copy")).to_be_visible()
            said(bob, "design", "I'll try a smaller size below 480 px and post screenshots.")
            said(carol, "design", "The sign-up button needs more contrast too; I'll open a ticket.")
            say(alice, "Thanks both! Review at 3 pm?")
            expect(messages(alice).get_by_text("Review at 3 pm?")).to_be_visible()
            said(bob, "design", "Works for me.")

            # dave writes to alice directly: it waits under Direct messages.
            send(dave, type="direct", user="alice")
            room = receive_until(dave, "joined")["room"]
            said(dave, room, "Hi Alice, do you have a minute for the Q3 budget later?")
            expect(alice.locator("#direct-rooms").get_by_label("1 unread")).to_be_visible()
            expect(messages(alice).get_by_text("Works for me.")).to_be_visible()
            send(carol, type="typing", room="design")
            expect(alice.locator("#typing")).to_have_text("carol is typing…")
            alice.evaluate("document.activeElement?.blur()")
            expect(alice.locator("#all-rooms")).to_contain_text("# design")
            alice.screenshot(path=str(output))
            for ws in (bob, carol, dave):
                ws.close()
            context.close()
        finally:
            next(browsers, None)  # closes the browser
            assert stop_server(server) == 0
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
