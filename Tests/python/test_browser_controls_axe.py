"""Issue 13: every control the page gained (the message menu, the edit bar, the delete
confirmation, the reaction picker and chips, the owner's menu and the lock badge, the bell) is
axe-clean, open, in both themes at desktop (1280x800) and phone (390x844) width, and reachable
from the keyboard. Screenshots land beside the other browser tests' for a person to look at."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from test_browser import Tab, browser, echo, tabs  # noqa: F401 (fixtures)
from test_browser_edit import open_menu, serious_violations
from test_browser_unread import NOTIFICATION_RECORDER

WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_new_controls_open_are_accessible(tabs, theme, width):
    viewport = WIDE if width == "desktop" else NARROW
    problems: list[str] = []

    def audit(tab: Tab, what: str):
        name = f"axe-{what}-{theme}-{width}"
        problems.extend(f"{name}: {p}" for p in serious_violations(tab))
        tab.screenshot(name)

    ada = tabs(viewport=viewport, color_scheme=theme)
    ada.context.add_init_script(NOTIFICATION_RECORDER)
    code = ada.create_room("Ada")
    grace = tabs()
    grace.join_by_link(code, "Grace")
    ada.send("mine, to edit")
    grace.send("theirs, to react to")
    ada.expect_text("theirs, to react to")

    # A reaction from the keyboard: menu, "Add reaction…", the picker open.
    open_menu(ada, "theirs, to react to")
    audit(ada, "message-menu")
    ada.page.keyboard.press("Enter")
    expect(ada.page.locator("#react-panel")).to_be_visible()
    audit(ada, "reaction-picker")
    ada.page.keyboard.press("Enter")
    chip = ada.bubble("theirs, to react to").locator(".reaction")
    expect(chip).to_have_text("👍1")
    grace.expect_text("theirs, to react to")
    expect(grace.bubble("theirs, to react to").locator(".reaction")).to_have_text("👍1")
    grace.bubble("theirs, to react to").locator(".reaction").click()
    expect(chip).to_have_text("👍2")
    chip.focus()  # who reacted shows
    audit(ada, "reactions")

    # Editing (Up) and the delete confirmation.
    box = ada.page.locator("#composer-input")
    box.focus()
    box.press("ArrowUp")
    expect(ada.page.locator("#edit-bar")).to_be_visible()
    audit(ada, "edit-bar")
    box.press("Escape")
    open_menu(ada, "mine, to edit")
    ada.page.keyboard.press("End")
    ada.page.keyboard.press("Enter")
    expect(ada.page.locator("#confirm")).to_be_visible()
    audit(ada, "confirm")
    ada.page.keyboard.press("Escape")
    # The dialog's close gives focus back to the menu's button (a task later): wait for it.
    expect(ada.bubble("mine, to edit").locator(".more-button")).to_be_focused()

    # The owner's menu, the lock badge, the bell on.
    owner = ada.page.locator("#owner-button")
    owner.focus()
    ada.page.keyboard.press("Enter")
    expect(ada.page.locator("#popup-menu")).to_be_visible()
    audit(ada, "owner-menu")
    ada.page.keyboard.press("Enter")
    expect(ada.page.locator("#lock-state")).to_be_visible()
    ada.page.locator("#notify-button").click()
    expect(ada.page.locator("#notify-button")).to_have_attribute("aria-pressed", "true")
    # Its toast fades in (160 ms): axe measures colours as drawn, so it waits for the end.
    ada.page.locator(".toast", has_text="Notifications on").evaluate("node => Promise.all(node.getAnimations().map((a) => a.finished))")
    audit(ada, "locked-notifying")
    assert not problems, "\n".join(problems)
