"""Issue 13: unread count and desktop notifications in real pages (Debian's chromium through
Playwright) on two workers of a real `echo`. The page's visibility is emulated (document.hidden and
document.visibilityState overridden, visibilitychange dispatched). Notifications: the browser's
Notification API is replaced by a recorder (the page's code is the real one), and once with the
real API with the permission granted through the browser context."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from test_browser import DESKTOP, PHONE, Tab, browser, echo, tabs  # noqa: F401 (fixtures)
from test_browser_edit import audit, two_people

# Replaces only the browser's API: `requestPermission` answers what the test set, and every
# notification made is recorded.
NOTIFICATION_RECORDER = """
(() => {
  const made = [];
  class RecordedNotification extends EventTarget {
    static permission = 'default';
    static answer = 'granted';
    static requests = 0;
    static async requestPermission() {
      RecordedNotification.requests += 1;
      RecordedNotification.permission = RecordedNotification.answer;
      return RecordedNotification.permission;
    }
    constructor(title, options = {}) {
      super();
      made.push({ title, body: options.body, tag: options.tag });
    }
    close() {}
  }
  window.Notification = RecordedNotification;
  window.__notifications = made;
})();
"""


def set_hidden(tab: Tab, hidden: bool):
    tab.page.evaluate("""(hidden) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => hidden ? 'hidden' : 'visible' });
        document.dispatchEvent(new Event('visibilitychange'));
    }""", hidden)


def notifications(tab: Tab) -> list[dict]:
    return tab.page.evaluate("window.__notifications")


def test_unread_title_and_notifications_while_hidden(tabs, echo):
    ada, grace, code = two_people(tabs, echo)
    # The recorder must be in place before the page's modules run: reload with it.
    for tab in (ada, grace):
        tab.context.add_init_script(NOTIFICATION_RECORDER)
        tab.page.reload()
        tab.wait_in_room()
    bell = ada.page.locator("#notify-button")
    expect(bell).to_have_attribute("aria-pressed", "false")
    expect(bell).to_have_accessible_name("Desktop notifications")
    assert ada.page.evaluate("Notification.requests") == 0, "permission is asked only when the bell is clicked"

    # The bell from the keyboard: asks once, turns on.
    bell.focus()
    ada.page.keyboard.press("Enter")
    expect(bell).to_have_attribute("aria-pressed", "true")
    expect(ada.page.locator(".toast", has_text="Notifications on")).to_have_count(1)
    assert ada.page.evaluate("Notification.requests") == 1
    grace.page.locator("#notify-button").click()
    expect(grace.page.locator("#notify-button")).to_have_attribute("aria-pressed", "true")
    for tab in (ada, grace):  # axe measures colours as drawn: the toasts' fade-in must be over
        tab.page.locator(".toast", has_text="Notifications on").evaluate("node => Promise.all(node.getAnimations().map((a) => a.finished))")
    audit([(ada, "notify-on-dark-desktop"), (grace, "notify-on-light-phone")])

    # Hidden: the title counts what others say, and each message is a notification.
    set_hidden(ada, True)
    grace.send("are you there?")
    grace.send("hello?")
    expect(ada.page).to_have_title(re.compile(r"^\(2\) Echo"))
    assert notifications(ada) == [
        {"title": "Grace in Echo", "body": "are you there?", "tag": f"echo-{code}"},
        {"title": "Grace in Echo", "body": "hello?", "tag": f"echo-{code}"},
    ]
    # One's own messages (from another tab, say) and edits are no news.
    ada.send("typed while hidden")
    grace.page.locator("#composer-input").press("ArrowUp")
    grace.page.locator("#composer-input").fill("hello, edited?")
    grace.page.locator("#composer-input").press("Enter")
    ada.expect_text("hello, edited?")
    expect(ada.page).to_have_title(re.compile(r"^\(2\) Echo"))
    assert len(notifications(ada)) == 2
    assert notifications(grace) == [], "Grace's tab was visible"

    # Visible again: the count goes; messages read as they come are neither counted nor notified.
    set_hidden(ada, False)
    expect(ada.page).to_have_title(re.compile(r"^Echo"))
    grace.send("now you see me")
    ada.expect_text("now you see me")
    expect(ada.page).to_have_title(re.compile(r"^Echo"))
    assert len(notifications(ada)) == 2

    # The bell again: off. Hidden messages still count in the title, without a notification.
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "false")
    set_hidden(ada, True)
    grace.send("quietly")
    expect(ada.page).to_have_title(re.compile(r"^\(1\) Echo"))
    assert len(notifications(ada)) == 2
    # The choice is kept: a reload does not turn them back on.
    ada.page.reload()
    ada.wait_in_room()
    expect(bell).to_have_attribute("aria-pressed", "false")
    assert ada.page.evaluate("Notification.requests") == 0


def test_notifications_refused_or_granted_by_the_browser(tabs):
    # Refused: the bell stays off and says where to change it.
    refused = tabs(viewport=PHONE, color_scheme="dark")
    refused.context.add_init_script(NOTIFICATION_RECORDER + "Notification.answer = 'denied';")
    refused.create_room("Ada")
    refused.page.click("#notify-button")
    expect(refused.page.locator(".toast-error", has_text="Notifications are blocked")).to_have_count(1)
    expect(refused.page.locator("#notify-button")).to_have_attribute("aria-pressed", "false")

    # The real API, granted by the browser context: no prompt, on at once.
    granted = tabs(viewport=DESKTOP, color_scheme="light")
    granted.context.grant_permissions(["notifications"])
    granted.create_room("Grace")
    assert granted.page.evaluate("Notification.permission") == "granted"
    granted.page.click("#notify-button")
    expect(granted.page.locator("#notify-button")).to_have_attribute("aria-pressed", "true")
    expect(granted.page.locator(".toast", has_text="Notifications on")).to_have_count(1)
