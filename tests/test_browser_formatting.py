"""Message formatting in the web client (markdown.js), against a real server:
the Markdown subset of PROTOCOL.md built as DOM nodes, a code block's Copy
button, and hostile input rendered inert and fast.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.blackbox import RunningServer
from tests.browser import (
    join,
    launch_browser,
    messages,
    new_context,
    open_page,
    say,
    sign_up,
    skip_without_chromium,
    watch,
)

pytestmark = skip_without_chromium

browser = pytest.fixture(launch_browser, scope="module", name="browser")
context = pytest.fixture(new_context, name="context")

FORMATTED = "\n".join(
    [
        "Some **bold** and *italic* and _also_ with `a <b>` here",
        "```python",
        "print('hi')",
        "x = 1",
        "```",
        "> a quote",
        "- one",
        "- two",
        "1. first",
        "see [the docs](https://example.com/docs) or https://example.org/x.",
    ]
)


def last_text(page: Page) -> Locator:
    return messages(page).locator("li.message:not(.pending) .text").last


def test_formatting_copy_and_hostile_input(context: BrowserContext, server: RunningServer) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = open_page(context, server)
    thrown = watch(page)
    sign_up(page, "fmt")
    join(page, "format")

    say(page, FORMATTED)
    text = last_text(page)
    expect(text.locator("strong")).to_have_text("bold")
    expect(text.locator("em")).to_have_text(["italic", "also"])
    expect(text.locator("p code")).to_have_text("a <b>")
    expect(text.locator("pre code")).to_have_text("print('hi')\nx = 1")
    expect(text.locator("blockquote")).to_have_text("a quote")
    expect(text.locator("ul li")).to_have_text(["one", "two"])
    expect(text.locator("ol li")).to_have_text(["first"])
    links = text.locator("a[href]")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "https://example.com/docs")
    expect(links.first).to_have_text("the docs")
    expect(links.last).to_have_attribute("href", "https://example.org/x")
    for i in range(2):
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(links.nth(i)).to_have_attribute("target", "_blank")
    assert text.locator("b").count() == 0

    copy = text.get_by_role("button", name="Copy the code")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\nx = 1"

    hostile = [
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1)) [y](data:text/html,hi) [z](//evil.example) [w](/relative)",
        "`" * 4000,
        "*" * 4000,
    ]
    for item in hostile:
        say(page, item)
        expect(last_text(page)).to_have_text(item, timeout=3000)  # all literal
    # Nested markers nest (to a bound); unclosed ones stay literal.
    say(page, "***__**_* **a *b **c _d_ e** f* g** unclosed **bold and *it")
    nested = last_text(page)
    expect(nested).to_contain_text("a b c d e f g unclosed **bold and *it")
    expect(nested.locator("strong strong")).to_have_text("c d e")
    shown = messages(page)
    assert shown.locator(".text img").count() == 0
    assert shown.locator("a[href^='javascript'], a[href^='data'], a[href^='/']").count() == 0
    expect(shown.locator(".text").filter(has_text="<img src=x onerror=alert(1)>")).to_have_count(1)

    # The page still answers (how fast the renderer is: python -m bench.markdown).
    say(page, "still **here**")
    still = messages(page).locator(".text").filter(has_text="still here")
    expect(still.locator("strong")).to_have_text("here")
    assert thrown == []
