"""Files in the web client (protocol 1.2), against a real server: an image
pasted into the message field is uploaded, sent with the text, and shows
inline in another member's browser in a box reserved for it, opened full
size on click; a file picked with Attach goes without text and shows as a
card with its name, size and a Download link that saves its bytes; one
dropped on the conversation is attached too; one over the server's limit
is refused in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.blackbox import RunningServer, start_server, stop_server
from tests.browser import (
    contexts_for,
    join,
    launch_browser,
    messages,
    new_context,
    open_page,
    sign_up,
    skip_without_chromium,
    wait_at_bottom,
    watch,
)

pytestmark = skip_without_chromium
browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")

# A 40x30 PNG drawn in the page, pasted into the message field as the
# clipboard would; whether the page took the paste.
PASTE_IMAGE = """async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 40;
  canvas.height = 30;
  const pen = canvas.getContext('2d');
  pen.fillStyle = '#3056d3';
  pen.fillRect(0, 0, 40, 30);
  const blob = await new Promise(done => canvas.toBlob(done, 'image/png'));
  const data = new DataTransfer();
  data.items.add(new File([blob], 'image.png', { type: 'image/png' }));
  const field = document.getElementById('message-input');
  field.focus();
  const paste = new ClipboardEvent(
    'paste', { clipboardData: data, bubbles: true, cancelable: true });
  field.dispatchEvent(paste);
  return paste.defaultPrevented;
}"""

# A file dropped on the conversation, as a drag from the desktop would.
DROP_FILE = """() => {
  const data = new DataTransfer();
  data.items.add(new File(['a,b\\n1,2\\n'], 'table.csv', { type: 'text/csv' }));
  const area = document.getElementById('conversation');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    area.dispatchEvent(new DragEvent(type, init));
  }
}"""


def attached(page: Page) -> Locator:
    return page.get_by_role("list", name="Files for the next message")


def message(page: Page, text: str) -> Locator:
    return messages(page).locator("li.message").filter(has_text=text)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = contexts_for(browser, 2)
    yield made
    for context in made:
        context.close()


def test_a_pasted_image_shows_inline_for_another_member(
    contexts: list[BrowserContext], server: RunningServer
) -> None:
    alice, bob = (open_page(context, server) for context in contexts)
    thrown = [watch(page) for page in (alice, bob)]
    for page, user in ((alice, "alice"), (bob, "bob")):
        sign_up(page, user)
        join(page, "pics")

    assert alice.evaluate(PASTE_IMAGE) is True
    upload = attached(alice).get_by_role("listitem")
    expect(upload).to_have_count(1)
    expect(upload).to_contain_text("image.png")
    expect(upload).to_contain_text("ready")
    field = alice.get_by_label("Message", exact=True)
    expect(field).to_have_value("")  # nothing typed by the paste
    field.fill("look at this")
    field.press("Enter")
    expect(attached(alice)).to_be_hidden()

    for page in (bob, alice):
        sent = message(page, "look at this")
        frame = sent.locator(".file-image")
        expect(frame).to_have_count(1)
        # A box is kept for it before it loads; then it has its own size
        # (40x30), and the view stays at the bottom.
        image = frame.locator("img")
        expect(image).to_have_attribute("alt", "image.png")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 40 && img.naturalHeight === 30",
            arg=image.element_handle(),
        )
        expect(frame).to_have_css("height", "30px")
        expect(frame).to_have_css("width", "40px")
        assert re.match(r"^(blob|data):", image.get_attribute("src") or "")
        wait_at_bottom(page)

    # Full size on click; Escape closes it.
    message(bob, "look at this").locator(".file-image").click()
    full = bob.get_by_role("dialog", name="image.png")
    expect(full).to_be_visible()
    bob.wait_for_function(
        "img => img.complete && img.naturalWidth === 40", arg=full.locator("img").element_handle()
    )
    bob.keyboard.press("Escape")
    expect(full).to_be_hidden()
    assert thrown == [[], []]


def test_a_picked_file_shows_as_a_card_with_a_download(
    contexts: list[BrowserContext], server: RunningServer
) -> None:
    alice, bob = (open_page(context, server) for context in contexts)
    thrown = [watch(page) for page in (alice, bob)]
    for page, user in ((alice, "alice"), (bob, "bob")):
        sign_up(page, user)
        join(page, "docs")

    body = b"hello world\n" * 150  # 1,800 bytes
    alice.locator("#attach-input").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": body}
    )
    upload = attached(alice).get_by_role("listitem")
    expect(upload).to_contain_text("notes.txt")
    expect(upload).to_contain_text("ready")
    alice.get_by_label("Message", exact=True).press("Enter")  # no text: the file alone

    for page in (bob, alice):
        card = message(page, "notes.txt").locator(".file-card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("notes.txt")
        expect(card).to_contain_text("1.8 KB")
        expect(message(page, "notes.txt").locator("img")).to_have_count(0)
    link = message(bob, "notes.txt").get_by_role("link", name="Download notes.txt")
    with bob.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == body

    # A reload brings it back with the room's history.
    bob.reload()
    expect(message(bob, "notes.txt").locator(".file-card")).to_contain_text("1.8 KB")

    # Dropped on the conversation: attached, and removed again.
    alice.evaluate(DROP_FILE)
    expect(attached(alice).get_by_role("listitem")).to_contain_text("table.csv")
    attached(alice).get_by_role("button", name="Remove table.csv").click()
    expect(attached(alice)).to_be_hidden()
    assert thrown == [[], []]


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server that takes files of 1 MiB at most."""
    running = start_server(tmp_path / "data", "--max-file-mib", "1")
    yield running
    assert stop_server(running) == 0, "".join(running.log[-40:])


def test_a_file_too_large_is_refused_in_words(
    context: BrowserContext, small_server: RunningServer
) -> None:
    page = open_page(context, small_server)
    thrown = watch(page)
    sign_up(page, "carol")
    join(page, "big")
    page.locator("#attach-input").set_input_files(
        {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * (1536 * 1024)}
    )
    upload = attached(page).get_by_role("listitem")
    expect(upload).to_contain_text(re.compile("too large", re.IGNORECASE))
    expect(page.get_by_role("alert")).to_contain_text("big.bin")
    expect(upload.get_by_role("button", name="Retry uploading big.bin")).to_be_visible()

    # Sending is refused while it is there; without it, text goes.
    field = page.get_by_label("Message", exact=True)
    field.fill("hello")
    field.press("Enter")
    expect(field).to_have_value("hello")
    upload.get_by_role("button", name="Remove big.bin").click()
    field.press("Enter")
    expect(message(page, "hello")).to_have_count(1)
    assert thrown == []
