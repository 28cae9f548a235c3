"""How long the web client's Markdown renderer (chatroom/static/markdown.js)
takes on hostile texts, against a plain text of the same length rendered
in the same page (the baseline): in Debian's Chromium, through Playwright.

    .venv/bin/python -m bench.markdown [--repeat 20]

Starts `python -m chatroom` on a free loopback port for the page's files,
renders each text --repeat times into a detached element, and prints the
median and the worst milliseconds of each, and the median's ratio to the
baseline's. The hostile set is the one tests/test_browser_formatting.py
renders inert: long runs of backticks, `*`, `_`, brackets, quote markers,
unclosed bold and fences.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.blackbox import start_server, stop_server
from tests.browser import launch_browser

# name -> JavaScript making the text (each about 4,000 characters)
TEXTS = {
    "plain (baseline)": '"word ".repeat(800)',
    "4000 backticks": '"`".repeat(4000)',
    "4000 *": '"*".repeat(4000)',
    "4000 _": '"_".repeat(4000)',
    "2000 [ and a long link": '"[".repeat(2000) + "](" + "x".repeat(1990) + ")"',
    "2000 quote markers": '"> ".repeat(2000)',
    "1000 unclosed bold": '"**a ".repeat(1000)',
    "1000 fences": '"```\\n".repeat(1000)',
}


def measure(repeat: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data")
        browsers = launch_browser()
        browser = next(browsers)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.port}/")
            texts = "{" + ", ".join(f"{name!r}: {js}" for name, js in TEXTS.items()) + "}"
            timings: dict[str, list[float]] = page.evaluate(
                f"""async () => {{
                  const {{ markdown }} = await import("/static/markdown.js");
                  const texts = {texts};
                  const timings = {{}};
                  for (const [name, text] of Object.entries(texts)) {{
                    timings[name] = [];
                    for (let i = 0; i < {repeat}; i++) {{
                      const start = performance.now();
                      document.createElement("div").append(markdown(text));
                      timings[name].push(performance.now() - start);
                    }}
                  }}
                  return timings;
                }}"""
            )
            return timings
        finally:
            next(browsers, None)
            assert stop_server(server) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    timings = measure(args.repeat)
    baseline = statistics.median(timings["plain (baseline)"])
    print("| text | median ms | worst ms | median / baseline |")
    print("|---|---|---|---|")
    for name, runs in timings.items():
        median = statistics.median(runs)
        ratio = median / baseline if baseline else float("nan")
        print(f"| {name} | {median:.2f} | {max(runs):.2f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
