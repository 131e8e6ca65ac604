"""Issue 13: the typing line between real pages (Debian's chromium through Playwright) on two
workers of a real `echo`: who is typing shows under the timeline, several collapse to a count, a
name goes when its message arrives or after 6 s, the page sends at most one `typing` per 2 s,
and the line is an accessible live region in both themes."""
from __future__ import annotations

import json
import time

from playwright.sync_api import expect

from test_browser import DESKTOP, Tab, browser, echo, join_on_another_worker, tabs  # noqa: F401 (fixtures)
from test_browser_edit import serious_violations, two_people


def typing_sent(tab: Tab) -> int:
    return sum(1 for f in tab.sent_frames if json.loads(f).get("type") == "typing")


def test_typing_line_between_pages_on_two_workers(tabs, echo):
    ada, grace, code = two_people(tabs, echo)
    assert "typing" in ada.frames("session")[-1]["features"]

    line = ada.page.locator("#typing-line")
    expect(line).to_have_attribute("aria-live", "polite")
    expect(line).to_have_text("")

    # Ten keystrokes in half a second: one `typing` frame, and Ada sees Grace typing.
    box = grace.page.locator("#composer-input")
    box.press_sequentially("Hello Ada!", delay=50)
    expect(line).to_have_text("Grace is typing…")
    assert typing_sent(grace) == 1
    expect(grace.page.locator("#typing-line")).to_have_text("")  # never one's own

    # Both themes stay accessible with the line showing.
    ada.page.locator("#composer-input").fill("a reply in progress")
    expect(grace.page.locator("#typing-line")).to_have_text("Ada is typing…")
    problems = [f"ada (dark, desktop): {p}" for p in serious_violations(ada)] + [f"grace (light, phone): {p}" for p in serious_violations(grace)]
    assert not problems, "\n".join(problems)
    ada.screenshot("typing-dark-desktop")
    grace.screenshot("typing-light-phone")

    # Her message arrives: her name goes at once, long before the 6 s are up.
    shown = time.monotonic()
    box.press("Enter")
    ada.expect_text("Hello Ada!")
    expect(line).to_have_text("", timeout=3000)
    assert time.monotonic() - shown < 5

    # A third person: two typing at once collapse to a count; after 6 s of quiet the line clears.
    linus, _, _ = join_on_another_worker(lambda: tabs(viewport=DESKTOP, color_scheme="light"), echo, code, "Linus", -1)
    time.sleep(2.1)  # Grace's next typing frame may go out again
    box.press_sequentially("more", delay=20)
    linus.page.locator("#composer-input").press_sequentially("hi", delay=20)
    expect(line).to_have_text("2 people are typing…")
    started = time.monotonic()
    expect(line).to_have_text("", timeout=9000)
    assert time.monotonic() - started > 4, "the line cleared before the names timed out"
