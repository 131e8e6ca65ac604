"""Issue 13: the room owner's menu in real pages (Debian's chromium through Playwright) on two
workers of a real `echo`: the creator keeps the room's `ownerKey` (localStorage, with the room),
locks and unlocks the room from a keyboard menu, removes a member from that member's bubble; the
removed page says so and stays out (close code 4001, no reconnect); a locked room refuses newcomers
with a clear message and lets its members back in after a reload."""
from __future__ import annotations

import json
import time

from playwright.sync_api import expect

from test_browser import DESKTOP, PHONE, Tab, browser, echo, tabs  # noqa: F401 (fixtures)
from test_browser_edit import audit, open_menu, sent, two_people


def joins(tab: Tab) -> list[dict]:
    return [f["payload"] for f in map(json.loads, tab.sent_frames) if f.get("type") == "join"]


def try_join(tab: Tab, code: str, name: str):
    tab.open(f"/#{code}")
    tab.page.fill("#username", name)
    tab.page.click("#join-button")


def test_owner_locks_kicks_and_unlocks(tabs, echo):
    ada, grace, code = two_people(tabs, echo)
    session = ada.frames("session")[-1]
    assert "moderation" in session["features"] and session["locked"] is False
    owner_key = session["ownerKey"]
    assert ada.page.evaluate("JSON.parse(localStorage.getItem('echo.ownerKeys'))") == {code: owner_key}
    assert "ownerKey" not in grace.frames("session")[-1]
    owner_button = ada.page.locator("#owner-button")
    expect(owner_button).to_be_visible()
    expect(owner_button).to_have_accessible_name("Room owner menu")
    expect(grace.page.locator("#owner-button")).to_be_hidden()
    grace.send("hello from Grace")
    ada.expect_text("hello from Grace")

    # Lock, from the keyboard.
    owner_button.focus()
    ada.page.keyboard.press("Enter")
    menu = ada.page.locator("#popup-menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Lock room"])
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    audit([(ada, "owner-menu-dark-desktop")])
    ada.page.keyboard.press("Enter")
    for tab in (ada, grace):
        expect(tab.page.locator("#lock-state")).to_be_visible()
        expect(tab.system_line("The room is locked")).to_have_count(1)
    assert sent(ada, "lock") == [{"locked": True, "ownerKey": owner_key}]

    # A newcomer is refused, and told why.
    linus = tabs(viewport=DESKTOP, color_scheme="light")
    try_join(linus, code, "Linus")
    expect(linus.page.locator("#join-error")).to_have_text("This room is locked: its owner is not letting anyone new in.")
    expect(linus.page.locator("#join-screen")).to_be_visible()
    audit([(linus, "room-locked-light-desktop")])

    # A member reloads into the locked room (same authorKey, a new session).
    joined_lines = ada.system_line("Grace joined").count()
    left_lines = ada.system_line("Grace left").count()
    grace.page.reload()
    grace.wait_in_room()
    expect(grace.page.locator("#lock-state")).to_be_visible()
    expect(ada.system_line("Grace joined")).to_have_count(joined_lines + 1)
    expect(ada.system_line("Grace left")).to_have_count(left_lines + 1)

    # The owner removes Grace from her bubble's menu, after a confirmation.
    menu = open_menu(ada, "hello from Grace")
    expect(menu.get_by_role("menuitem")).to_have_text(["Add reaction…", "Remove Grace from the room"])
    audit([(ada, "kick-menu-dark-desktop")])
    ada.page.keyboard.press("End")
    ada.page.keyboard.press("Enter")
    expect(ada.page.locator("#confirm-title")).to_have_text("Remove Grace?")
    audit([(ada, "confirm-kick-dark-desktop")])
    ada.page.click("#confirm-ok")
    # Not the session that wrote the message: Grace reloaded since, and the kick names the session
    # she has now (a gone one would be no member).
    wrote = next(m["sessionId"] for m in grace.frames("chat") if m.get("text") == "hello from Grace")
    now = grace.frames("session")[-1]["sessionId"]
    assert wrote != now
    expect(ada.system_line("Grace was removed from the room")).to_have_count(1)
    assert sent(ada, "kick") == [{"sessionId": now, "ownerKey": owner_key}]
    expect(ada.page.locator("#member-count")).to_have_text("1 online")
    expect(ada.system_line("Grace left")).to_have_count(left_lines + 1)  # the reload's, not the removal's

    # Grace's page says so and stays out: no reconnect, no new join.
    expect(grace.page.locator("#join-screen")).to_be_visible()
    expect(grace.page.locator("#join-error")).to_contain_text("You were removed from the room")
    audit([(grace, "removed-light-phone")])
    joined = len(joins(grace))
    time.sleep(3)  # longer than the first reconnect delay (1 s ± 20 %)
    assert len(joins(grace)) == joined, "a removed page must not rejoin on its own"
    expect(grace.page.locator("#join-screen")).to_be_visible()

    # She cannot come back while the room is locked.
    grace.page.fill("#room-code", code)
    grace.page.click("#join-button")
    expect(grace.page.locator("#join-error")).to_have_text("This room is locked: its owner is not letting anyone new in.")

    # The owner reloads into her locked room: her join carries the ownerKey kept with the room.
    ada.page.reload()
    ada.wait_in_room()
    assert joins(ada)[-1]["ownerKey"] == owner_key
    expect(owner_button).to_be_visible()
    expect(ada.page.locator("#lock-state")).to_be_visible()

    # Unlocked: newcomers get in.
    owner_button.click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Unlock room").click()
    expect(ada.page.locator("#lock-state")).to_be_hidden()
    expect(ada.system_line("The room is unlocked")).to_have_count(1)
    assert sent(ada, "lock")[-1] == {"locked": False, "ownerKey": owner_key}
    linus.page.click("#join-button")
    linus.wait_in_room()
    expect(linus.page.locator("#lock-state")).to_be_hidden()
    expect(linus.page.locator("#owner-button")).to_be_hidden()


def test_a_member_locked_out_while_away_is_told_on_the_join_screen(tabs, echo):
    """A member removed once (while the room was unlocked) came back; the owner then locks the
    room, which does not record a removed member. When that member's connection drops, its
    reconnect is refused: the page leaves the room and says why instead of retrying."""
    ada, grace, code = two_people(tabs, echo)
    grace.send("I will be back")
    ada.expect_text("I will be back")
    open_menu(ada, "I will be back")
    ada.page.keyboard.press("End")
    ada.page.keyboard.press("Enter")
    ada.page.click("#confirm-ok")
    expect(grace.page.locator("#join-error")).to_contain_text("You were removed from the room")

    # Unlocked: she may come back.
    grace.page.fill("#room-code", code)
    grace.page.click("#join-button")
    grace.wait_in_room()
    ada.page.locator("#owner-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Lock room").click()
    expect(grace.page.locator("#lock-state")).to_be_visible()

    grace.context.set_offline(True)
    expect(grace.page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    grace.context.set_offline(False)
    expect(grace.page.locator("#join-screen")).to_be_visible()
    expect(grace.page.locator("#join-error")).to_have_text("This room is locked: its owner is not letting anyone new in.")
    expect(grace.page.locator("#room-code")).to_have_value(code)
    assert joins(grace)[-1]["action"] == "rejoin"
    refused = len(joins(grace))
    time.sleep(3)
    assert len(joins(grace)) == refused, "a refused page must not keep rejoining"
