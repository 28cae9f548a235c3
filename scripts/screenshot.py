"""Retake docs/screenshot.png: a realistic afternoon in the web client.

    .venv/bin/python scripts/screenshot.py [OUTPUT]

Starts `python -m chatroom` on a free loopback port with a fresh data dir,
has four people talk (alice in Debian's Chromium, driven by Playwright;
bob, carol and dave over WebSockets): a public room, alice's private room
with her owner badge and carol as moderator, where bob shares an image,
carol replies to it, people react and format their messages; and a direct
message from dave waiting under Direct messages. Takes the screenshot from alice's page and
stops the server. Needs what the browser tests need (scripts/test installs
it); never downloads a browser.
"""

from __future__ import annotations

import http.client
import json
import struct
import sys
import tempfile
import zlib
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


def hero_png(width: int = 360, height: int = 170) -> bytes:
    """A mock-up of a page's hero section: a gradient, a headline bar and a button."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # (no filter)
        for x in range(width):
            r, g, b = 40 + x * 80 // width, 70 + y * 60 // height, 160 + x * 60 // width
            if (40 <= y < 62 and 30 <= x < 280) or (74 <= y < 86 and 30 <= x < 220):
                r, g, b = 245, 245, 250
            if 110 <= y < 138 and 30 <= x < 130:
                r, g, b = 255, 196, 61
            row += bytes((r, g, b))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def upload(server: Any, user: str, room: str, name: str, data: bytes) -> str:
    """The id of `data` uploaded to `room` by `user`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.token(user)}", "Content-Type": "image/png"}
    conn.request("POST", f"/api/rooms/{room}/files?name={name}", body=data, headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 201, body
    return str(body["file"]["id"])


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

            context = browser.new_context(viewport={"width": 1200, "height": 800})
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
            alice.get_by_role("button", name="Settings", exact=True).click()
            for user in ("bob", "carol"):
                alice.get_by_label("Invite user").fill(user)
                alice.get_by_label("Invite user").press("Enter")
                expect(alice.locator("#manage-note")).to_have_text(f"Invited {user} to # design.")
            alice.locator("#manage-note").evaluate("note => (note.textContent = '')")
            joined(bob, "design")
            joined(carol, "design")
            expect(members(alice).get_by_text("carol")).to_be_visible()
            panel = alice.get_by_role("region", name="Room settings")
            panel.get_by_role("button", name="Make carol moderator").click()
            expect(members(alice).get_by_text("mod", exact=True)).to_be_visible()
            alice.get_by_role("button", name="Close settings").click()

            hero = upload(server, "bob", "design", "hero.png", hero_png())
            send(
                bob,
                type="send",
                room="design",
                text="Pushed the new **hero section** to staging: https://staging.example.com/",
                files=[hero],
            )
            pushed = receive_until(bob, "message")["id"]
            send(
                carol,
                type="send",
                room="design",
                text="Looks *great* on desktop. On my phone the headline wraps onto "
                "three lines, though.",
                reply_to=pushed,
            )
            receive_until(carol, "message")
            for ws, emoji in ((carol, "🎉"), (bob, "🎉"), (carol, "👀")):
                send(ws, type="react", room="design", id=pushed, emoji=emoji, on=True)
            say(alice, "Good catch. Let's cap it at two lines:")
            expect(messages(alice).get_by_text("cap it at two lines")).to_be_visible()
            said(bob, "design", "```css\n.hero h1 { line-clamp: 2; }\n```")
            review_text = "Thanks both! Review at 3 pm?"
            say(alice, review_text)
            while (heard := receive_until(bob, "message"))["text"] != review_text:
                pass
            review = int(heard["id"])
            for ws in (bob, carol):
                send(ws, type="react", room="design", id=review, emoji="👍", on=True)

            # dave writes to alice directly: it waits under Direct messages.
            send(dave, type="direct", user="alice")
            room = receive_until(dave, "joined")["room"]
            said(dave, room, "Hi Alice, do you have a minute for the Q3 budget later?")
            expect(alice.locator("#direct-rooms").get_by_label("1 unread")).to_be_visible()
            last = messages(alice).locator("li.message").last
            expect(last.locator(".reaction-count")).to_have_text("2")
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
