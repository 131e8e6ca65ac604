"""Issue 13: editing and deleting one's own messages in real pages (Debian's chromium through
Playwright) on two workers of a real `echo`: Up in an empty composer edits one's last message, a
keyboard-reachable menu on one's own bubble offers Edit and Delete, a delete asks first, an
"(edited)" mark, a tombstone for a deleted message and "deleted" in replies quoting it; the frames
apply live, from a later join's history, after a reload and after a resume, each exactly once.
Every new control is axe-clean in both themes at desktop and phone width, open."""
from __future__ import annotations

import json
import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from test_browser import DESKTOP, PHONE, Tab, browser, echo, join_and_find_worker, join_on_another_worker, tabs  # noqa: F401 (fixtures)

ALL_FEATURES = ["typing", "edit", "react", "moderation"]


def serious_violations(tab: Tab) -> list[str]:
    result = Axe().run(tab.page)
    return [f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
            for v in result.response["violations"] if v["impact"] in ("serious", "critical")]


def audit(tabs_and_names: list[tuple[Tab, str]]):
    """axe on each tab as it is now (both themes and widths among them); screenshots to look at."""
    problems = []
    for tab, name in tabs_and_names:
        problems += [f"{name}: {p}" for p in serious_violations(tab)]
        tab.screenshot(name)
    assert not problems, "\n".join(problems)


def sent(tab: Tab, type_: str) -> list[dict]:
    return [f["payload"] for f in map(json.loads, tab.sent_frames) if f.get("type") == type_]


def two_people(tabs, echo) -> tuple[Tab, Tab, str]:
    """Ada (desktop, dark) creates a room; Grace (phone, light) joins it on the other worker."""
    ada = tabs(viewport=DESKTOP, color_scheme="dark")
    ada.open()
    ada.page.fill("#username", "Ada")
    ada_worker = join_and_find_worker(ada, echo, lambda: (ada.page.click("#create-button"), ada.wait_in_room()))
    code = ada.page.locator("#room-name").inner_text()
    grace, _, _ = join_on_another_worker(lambda: tabs(viewport=PHONE, color_scheme="light"), echo, code, "Grace", ada_worker)
    return ada, grace, code


def open_menu(tab: Tab, text: str):
    """Opens the actions menu of the message `text` from the keyboard; returns the menu."""
    button = tab.bubble(text).locator(".more-button")
    button.focus()
    tab.page.keyboard.press("Enter")
    menu = tab.page.locator("#popup-menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    return menu


def test_edit_and_delete_between_two_people(tabs, echo):
    ada, grace, code = two_people(tabs, echo)
    key = sent(ada, "join")[-1]["authorKey"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
    assert ada.page.evaluate("JSON.parse(localStorage.getItem('echo.authorKey'))") == key
    assert sent(ada, "join")[-1]["features"] == ALL_FEATURES
    assert {"typing", "edit"} <= set(ada.frames("session")[-1]["features"])

    # Up in the empty composer: the last message of one's own goes into the box to be edited.
    ada.send("first draft")
    grace.expect_text("first draft")
    box = ada.page.locator("#composer-input")
    box.press("ArrowUp")
    expect(ada.page.locator("#edit-bar")).to_be_visible()
    expect(box).to_have_value("first draft")
    audit([(ada, "edit-bar-dark-desktop")])
    box.fill("first, edited")
    box.press("Enter")
    expect(ada.page.locator("#edit-bar")).to_be_hidden()
    for tab in (ada, grace):
        tab.expect_text("first, edited")
        tab.expect_text("first draft", count=0)
        expect(tab.bubble("first, edited").locator(".edited")).to_have_text("(edited)")
    messages = [m for m in ada.frames("chat") if m.get("text") == "first draft"]
    assert sent(ada, "edit") == [{"messageId": messages[0]["id"], "text": "first, edited"}]

    # Escape gives the edit up and gives back what was being typed.
    box.fill("")
    box.press("ArrowUp")
    expect(box).to_have_value("first, edited")
    box.press("Escape")
    expect(ada.page.locator("#edit-bar")).to_be_hidden()
    expect(box).to_have_value("")

    # Grace replies to a message of Ada's that Ada then deletes, from her bubble's menu.
    ada.send("doomed message")
    grace.expect_text("doomed message")
    grace.bubble("doomed message").locator(".reply-button").click()
    grace.send("replying to the doomed one")
    ada.expect_text("replying to the doomed one")

    # Grace's menu on Ada's message offers no Edit or Delete: they are not hers.
    menu = open_menu(grace, "doomed message")
    expect(menu.get_by_role("menuitem")).to_have_text(["Add reaction…"])
    grace.page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(grace.bubble("doomed message").locator(".more-button")).to_be_focused()

    menu = open_menu(ada, "doomed message")
    expect(menu.get_by_role("menuitem")).to_have_text(["Add reaction…", "Edit", "Delete"])
    audit([(ada, "message-menu-dark-desktop")])
    ada.page.keyboard.press("End")
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    ada.page.keyboard.press("Enter")
    dialog = ada.page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-title")).to_have_text("Delete this message?")
    expect(ada.page.locator("#confirm-cancel")).to_be_focused()  # the safe choice first
    audit([(ada, "confirm-delete-dark-desktop")])
    # Cancel keeps the message; focus goes back to the menu's button.
    ada.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ada.bubble("doomed message").locator(".more-button")).to_be_focused()
    ada.expect_text("doomed message")
    assert sent(ada, "delete") == []

    open_menu(ada, "doomed message")
    ada.page.keyboard.press("End")
    ada.page.keyboard.press("Enter")
    ada.page.click("#confirm-ok")
    expect(dialog).to_be_hidden()
    doomed_id = next(m["id"] for m in ada.frames("chat") if m.get("text") == "doomed message")
    expect(ada.page.locator(f"#m-{doomed_id} .deleted-text")).to_have_text("You deleted this message")
    expect(grace.page.locator(f"#m-{doomed_id} .deleted-text")).to_have_text("This message was deleted")
    assert sent(ada, "delete") == [{"messageId": doomed_id}]
    for tab in (ada, grace):
        tab.expect_text("doomed message", count=0)
        expect(tab.bubble("replying to the doomed one").locator(".quote-text")).to_have_text("deleted")
        expect(tab.page.locator(f"#m-{doomed_id} .more-button")).to_have_count(0)
    # Up now skips the deleted message and edits the one before it.
    box.press("ArrowUp")
    expect(box).to_have_value("first, edited")
    box.press("Escape")

    # Both themes, both widths, with the tombstone, the edited mark and an open menu.
    open_menu(grace, "first, edited")
    audit([(ada, "edited-deleted-dark-desktop"), (grace, "edited-deleted-menu-light-phone")])
    grace.page.keyboard.press("Escape")

    # Someone who joins later gets it all from history: the edited text, the tombstone in its
    # place, the reply saying "deleted"; every entry applied once.
    linus = tabs(viewport=DESKTOP, color_scheme="light")
    linus.join_by_link(code, "Linus")
    expected = ["first, edited", "Message deleted", "replying to the doomed one"]
    expect(linus.page.locator(".timeline-list .bubble .text")).to_have_text(expected)
    expect(linus.bubble("first, edited").locator(".edited")).to_have_count(1)
    expect(linus.bubble("replying to the doomed one").locator(".quote-text")).to_have_text("deleted")
    history = linus.frames("history")[-1]["messages"]
    assert {"edit", "delete"} <= {m.get("type") for m in history}, "the history lists the entries themselves"

    # A reload applies the same history again over nothing: the same timeline, nothing twice (a
    # tombstone from history names no sender).
    grace.page.reload()
    grace.wait_in_room()
    expect(grace.page.locator(".timeline-list .bubble .text")).to_have_text(expected)
    expect(grace.page.locator(".edited")).to_have_count(1)


def test_a_page_that_was_away_resumes_into_edits_and_deletes(tabs, echo):
    ada, grace, _ = two_people(tabs, echo)
    ada.send("will change while you are away")
    ada.send("will go while you are away")
    grace.expect_text("will go while you are away")
    last_seen = grace.bubble("will go while you are away").get_attribute("data-id")

    grace.context.set_offline(True)
    expect(grace.page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    box = ada.page.locator("#composer-input")
    ada.bubble("will change while you are away").locator(".more-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Edit").click()
    expect(box).to_have_value("will change while you are away")
    box.fill("changed while you were away")
    box.press("Enter")
    ada.expect_text("changed while you were away")
    ada.bubble("will go while you are away").locator(".more-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Delete").click()
    ada.page.click("#confirm-ok")
    expect(ada.page.locator(".deleted-text")).to_have_count(1)

    grace.context.set_offline(False)
    grace.wait_in_room()
    joins = [f["payload"] for f in map(json.loads, grace.sent_frames) if f.get("type") == "join"]
    assert joins[-1]["since"] == last_seen, "the page resumed rather than reloading the history"
    grace.expect_text("changed while you were away")
    expect(grace.bubble("changed while you were away").locator(".edited")).to_have_count(1)
    expect(grace.page.locator(".timeline-list .bubble .text")).to_have_text(
        ["changed while you were away", "This message was deleted"])
