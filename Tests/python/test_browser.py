"""The web client in a real browser (Debian's chromium through Playwright) against a real `echo`
supervisor with two workers and the test Redis.

Screenshots land in <test output>/screenshots; look at them after a change to the page.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect, sync_playwright

from conftest import OUTPUT_DIR, RedisServer, http_get, wait_for

CHROMIUM = os.environ.get("ECHO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = OUTPUT_DIR / "screenshots"
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 390, "height": 844}
# Playwright's assertions retry until this many milliseconds have passed.
expect.set_options(timeout=10_000)


# ------------------------------------------------------------------------------------------------
# Helpers


def png_bytes(width=24, height=16, rgb=(245, 165, 36)) -> bytes:
    """A small valid PNG, so the image path is exercised without fixture files."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PLAIN_ROOMS = """document.addEventListener('DOMContentLoaded', () => {
  const toggle = document.getElementById('encrypt-room');
  if (toggle && toggle.checked) toggle.click();
});"""


class Tab:
    """One browser tab on the Echo page, with what it logged and sent."""

    def __init__(self, browser, base: str, viewport=DESKTOP, color_scheme="dark", encrypted=False):
        self.base = base
        self.context = browser.new_context(viewport=viewport, color_scheme=color_scheme,
                                           is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
        if not encrypted:
            # The page makes end-to-end encrypted rooms by default; these tests are about plain rooms
            # (the ones Echo Chat's apps join too): the join screen's switch is turned off first.
            # test_browser_e2e.py opens its tabs with encrypted=True.
            self.context.add_init_script(PLAIN_ROOMS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.sent_frames: list[str] = []
        self.received_frames: list[dict] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("console", self._console)
        self.page.on("websocket", self._websocket)

    def _websocket(self, ws):
        ws.on("framesent", self._frame_sent)
        ws.on("framereceived", self._frame_received)

    def _console(self, message):
        text = message.text
        # A CSP or Trusted Types refusal means the page tried something the policy forbids.
        if message.type == "error" and re.search(r"Content Security Policy|Trusted Type|TrustedHTML", text):
            self.errors.append(f"policy: {text}")

    def _frame_sent(self, payload):
        self.sent_frames.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))

    def _frame_received(self, payload):
        try:
            frame = json.loads(payload)
        except (TypeError, ValueError):
            return
        if isinstance(frame, dict):
            self.received_frames.append(frame)

    def frames(self, type_: str) -> list[dict]:
        """The frames of this type the page received (as the page saw them, after any route)."""
        return [f for f in self.received_frames if f.get("type") == type_]

    def open(self, path="/"):
        self.page.goto(self.base + path)
        expect(self.page.locator("#join-screen, #chat-screen").locator("visible=true")).to_have_count(1)
        return self

    def create_room(self, name: str) -> str:
        self.open()
        self.page.fill("#username", name)
        self.page.click("#create-button")
        self.wait_in_room()
        code = self.page.locator("#room-name").inner_text()
        assert re.fullmatch(r"[A-Za-z0-9_-]{21}", code), code
        return code

    def join_by_link(self, code: str, name: str):
        self.open(f"/#{code}")
        expect(self.page.locator("#room-code")).to_have_value(code)
        self.page.fill("#username", name)
        self.page.click("#join-button")
        self.wait_in_room()

    def wait_in_room(self):
        expect(self.page.locator("#chat-screen")).to_be_visible()
        expect(self.page.locator("#connection-status")).to_have_attribute("data-status", "connected")

    def send(self, text: str, wait=True):
        box = self.page.locator("#composer-input")
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("")
        if wait:
            self.wait_sent()

    def wait_sent(self):
        expect(self.page.locator(".timeline-pending .bubble")).to_have_count(0)

    def texts(self) -> list[str]:
        """The text of every confirmed message, in timeline order."""
        return self.page.locator(".timeline-list .bubble .text").all_inner_texts()

    def bubble(self, text: str):
        return self.page.locator(".timeline-list .bubble", has=self.page.locator(".text", has_text=text))

    def expect_text(self, text: str, count=1):
        expect(self.page.locator(".timeline-list .bubble .text").filter(has_text=text)).to_have_count(count)

    def system_line(self, text: str):
        return self.page.locator(".system-line", has_text=text)

    def screenshot(self, name: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def set_theme(self, theme: str):
        toggle = self.page.locator(".theme-toggle").locator("visible=true")
        if self.page.evaluate("document.documentElement.dataset.theme || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light')") != theme:
            toggle.click()
        expect(self.page.locator("html")).to_have_attribute("data-theme", theme)

    def assert_clean(self):
        assert not self.errors, "\n".join(self.errors)

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (make test does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def echo(start_echo):
    return start_echo(workers=2)


@pytest.fixture
def tabs(browser, echo):
    """tabs(viewport=..., color_scheme=...) opens a new browser context on the running echo."""
    opened: list[Tab] = []

    def open_tab(**kwargs) -> Tab:
        tab = Tab(browser, echo.base, **kwargs)
        opened.append(tab)
        return tab

    yield open_tab
    try:
        for tab in opened:
            tab.assert_clean()
    finally:
        for tab in opened:
            tab.close()


def established(port: int) -> set[tuple[int, int]]:
    """(peer port, server pid) of every TCP connection established to `port`."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=5, check=True).stdout
    result = set()
    for line in out.splitlines():
        fields = line.split()
        pid = re.search(r"pid=(\d+)", line)
        if len(fields) >= 4 and pid:
            result.add((int(fields[3].rsplit(":", 1)[1]), int(pid.group(1))))
    return result


def last_join(tab: Tab) -> dict:
    joins = [json.loads(f)["payload"] for f in tab.sent_frames if '"join"' in f]
    assert joins, "the page sent no join"
    return joins[-1]


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def join_on_another_worker(new_tab, echo, code: str, name: str, other_worker: int, attempts: int = 12):
    """Opens tabs (`new_tab()`) that join room `code` as `name` until one lands on a worker other
    than `other_worker` (each one that did not leaves again); returns (tab, its worker, tabs tried)."""
    for tried in range(1, attempts + 1):
        tab = new_tab()
        tab.open(f"/#{code}")
        tab.page.fill("#username", name)
        worker = join_and_find_worker(tab, echo, lambda: (tab.page.click("#join-button"), tab.wait_in_room()))
        if worker != other_worker:
            return tab, worker, tried
        tab.page.click("#leave-button")
    raise AssertionError("both pages kept landing on the same worker")


def join_and_find_worker(tab: Tab, echo, action) -> int:
    """Runs `action` (which makes the tab open its WebSocket) and returns the pid of the worker the
    socket landed on: the one connection that appeared meanwhile."""
    tab.page.wait_for_load_state("networkidle")
    before = established(echo.port)
    action()
    new = wait_for(lambda: established(echo.port) - before, timeout=5, what="the page's WebSocket")
    pids = {pid for _, pid in new}
    assert len(pids) == 1, f"cannot tell which worker serves the page: {new}"
    pid = pids.pop()
    assert parent_pid(pid) == echo.proc.pid, "the connection is not served by one of this echo's workers"
    return pid


# ------------------------------------------------------------------------------------------------
# Tests


def test_page_is_served_with_versioned_assets_and_security_headers(echo):
    status, headers, body = http_get(echo.base + "/", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-cache"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    html = zlib.decompress(body, 16 + zlib.MAX_WBITS).decode() if headers.get("Content-Encoding") == "gzip" else body.decode()
    assert "{{" not in html
    script = re.search(r'<script type="module" src="(/v/[0-9a-f]{16}/app\.js)"', html)
    assert script, "index.html must reference the versioned app.js"

    status, headers, body = http_get(echo.base + script.group(1), headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert b"import" in zlib.decompress(body, 16 + zlib.MAX_WBITS)
    status, _, _ = http_get(echo.base + script.group(1), headers={"If-None-Match": headers["ETag"], "Accept-Encoding": "gzip"})
    assert status == 304

    # HEAD tells what GET would send, without the body.
    connection = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=5)
    connection.request("HEAD", script.group(1))
    head = connection.getresponse()
    assert head.status == 200 and head.read() == b""
    plain_length = len(http_get(echo.base + script.group(1))[2])
    assert head.getheader("Content-Length") == str(plain_length)
    connection.close()

    # Every module is preloaded (no import waterfall), and every preload exists.
    web = Path(__file__).resolve().parents[2] / "web"
    modules = {p.name for p in web.glob("*.js")} - {"theme-init.js"}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/v/[0-9a-f]{16}/([^"]+)">', html))
    assert preloaded == modules
    for name in preloaded:
        assert http_get(f"{echo.base}/v/{script.group(1).split('/')[2]}/{name}")[0] == 200


def test_two_people_chat_both_ways(tabs):
    ada = tabs(viewport=DESKTOP, color_scheme="dark")
    grace = tabs(viewport=PHONE, color_scheme="light")

    code = ada.create_room("Ada")
    assert ada.page.url.endswith(f"#{code}"), "the address bar must carry the room link"
    expect(ada.page.locator("#member-count")).to_have_text("1 online")
    ada.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ada.page.click("#copy-link")
    expect(ada.page.locator(".toast", has_text="Room link copied")).to_have_count(1)
    assert ada.page.evaluate("navigator.clipboard.readText()") == f"{ada.base}/#{code}"
    ada.page.click("#copy-code")
    expect(ada.page.locator(".toast", has_text="Room code copied")).to_have_count(1)
    assert ada.page.evaluate("navigator.clipboard.readText()") == code

    grace.join_by_link(code, "Grace")
    expect(ada.system_line("Grace joined")).to_have_count(1)
    expect(ada.page.locator("#member-count")).to_have_text("2 online")
    expect(grace.page.locator("#member-count")).to_have_text("2 online")

    # Text, both ways; one's own messages on their own side.
    ada.send("Hello Grace, welcome to Echo")
    grace.expect_text("Hello Grace, welcome to Echo")
    expect(grace.page.locator(".group.other .bubble .text", has_text="Hello Grace")).to_have_count(1)
    expect(ada.page.locator(".group.own .bubble .text", has_text="Hello Grace")).to_have_count(1)

    # A reply quotes the original; clicking the quote brings the original into view.
    original = grace.bubble("Hello Grace, welcome to Echo")
    original.hover()
    original.locator(".reply-button").click()
    expect(grace.page.locator("#reply-bar")).to_be_visible()
    grace.send("Hi Ada! Glad to be here")
    reply = ada.bubble("Hi Ada! Glad to be here")
    expect(reply.locator(".quote")).to_contain_text("Hello Grace, welcome to Echo")
    reply.locator(".quote").click()
    expect(ada.bubble("Hello Grace, welcome to Echo")).to_have_class(re.compile(r"\bflash\b"))

    # An image, picked through the file input; the receiver can zoom it.
    ada.page.set_input_files("#file-input", files=[{"name": "amber.png", "mimeType": "image/png", "buffer": png_bytes()}])
    expect(ada.page.locator("#image-bar")).to_be_visible()
    ada.page.locator("#composer-input").press("Enter")
    ada.wait_sent()
    received = grace.page.locator(".group.other .thumb img")
    expect(received).to_have_count(1)
    assert received.get_attribute("src").startswith("data:image/png;base64,")
    received.click()
    expect(grace.page.locator("#zoom")).to_be_visible()
    grace.page.keyboard.press("Escape")
    expect(grace.page.locator("#zoom")).to_be_hidden()
    expect(ada.page.locator(".group.own .thumb img")).to_have_count(1)

    # An emoji from the picker, sent alone, is shown large on both sides.
    grace.page.click("#emoji-button")
    grace.page.fill("#emoji-search", "party popper")
    expect(grace.page.locator("#emoji-panel .emoji-option", has_text="🎉").first).to_be_visible()
    grace.screenshot("chat-light-phone-emoji-picker")
    grace.page.locator("#emoji-panel .emoji-option", has_text="🎉").first.click()
    grace.page.keyboard.press("Escape")
    expect(grace.page.locator("#emoji-panel")).to_be_hidden()
    expect(grace.page.locator("#composer-input")).to_have_value("🎉")
    grace.page.locator("#composer-input").press("Enter")
    grace.wait_sent()
    expect(ada.page.locator(".text.emoji-only", has_text="🎉")).to_have_count(1)
    expect(grace.page.locator(".group.own .text.emoji-only", has_text="🎉")).to_have_count(1)

    ada.send("Back to you, Grace 😀")
    grace.expect_text("Back to you, Grace 😀")

    expected = ["Hello Grace, welcome to Echo", "Hi Ada! Glad to be here", "🎉", "Back to you, Grace 😀"]
    assert ada.texts() == expected
    assert grace.texts() == expected

    # Leaving: the other side sees the leave line and the count drop.
    grace.page.click("#leave-button")
    expect(grace.page.locator("#join-screen")).to_be_visible()
    assert "#" not in grace.page.url
    expect(ada.system_line("Grace left")).to_have_count(1)
    expect(ada.page.locator("#member-count")).to_have_text("1 online")


def test_html_in_messages_stays_text(tabs):
    ada = tabs()
    grace = tabs()
    code = ada.create_room("Ada")
    grace.join_by_link(code, "Grace")

    payloads = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>",
                '<a href="javascript:window.__xss=3">click</a> javascript:window.__xss=4']
    ada.send(payloads[0])
    grace.send(payloads[1])
    ada.send(payloads[2])
    for tab in (ada, grace):
        for payload in payloads:
            tab.expect_text(payload)
        assert tab.texts() == payloads
        # Nothing was parsed as markup and nothing ran.
        assert tab.page.locator(".timeline img, .timeline script").count() == 0
        assert tab.page.locator(".timeline a").count() == 0
        assert tab.page.evaluate("window.__xss") is None
    # The page cannot create HTML from strings at all: Trusted Types are enforced by the server's CSP.
    assert ada.page.evaluate("""() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'allowed'; }
                                        catch (e) { return e.name; } }""") == "TypeError"
    # That refusal is logged as a policy error; it was provoked on purpose, so it is not a failure.
    ada.errors = [e for e in ada.errors if "TrustedHTML" not in e]


def test_killed_worker_page_reconnects_and_resumes_without_gaps_or_duplicates(tabs, echo):
    ada = tabs()
    ada.open()
    ada.page.fill("#username", "Ada")
    ada_worker = join_and_find_worker(ada, echo, lambda: (ada.page.click("#create-button"), ada.wait_in_room()))
    code = ada.page.locator("#room-name").inner_text()

    # The sender must be served by the other worker, so it keeps sending while Ada's is down.
    grace, grace_worker, _ = join_on_another_worker(tabs, echo, code, "Grace", ada_worker)

    expected = [f"before {i}" for i in range(3)]
    for text in expected:
        grace.send(text)
    for text in expected:
        ada.expect_text(text)

    last_seen = ada.bubble("before 2").get_attribute("data-id")
    os.kill(ada_worker, signal.SIGKILL)
    expect(ada.page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    # Typed while disconnected: stays pending, goes out once the page is back.
    ada.send("typed while offline", wait=False)
    expect(ada.page.locator(".timeline-pending .bubble")).to_have_count(1)
    ada.screenshot("chat-dark-desktop-reconnecting")
    during = [f"during outage {i}" for i in range(10)]
    for text in during:
        grace.send(text)
    expected += during

    ada.wait_in_room()
    # It resumed from the last position it saw rather than reloading the history.
    join = last_join(ada)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", join.pop("authorKey"))
    join.pop("ownerKey", None)  # Ada created the room: a server with moderation made her its owner
    assert join == {"roomId": code, "username": "Ada", "action": "rejoin", "since": last_seen,
                    "features": ["typing", "edit", "react", "moderation"]}
    ada.wait_sent()
    grace.expect_text("typed while offline")
    after = [f"after {i}" for i in range(3)]
    for text in after:
        grace.send(text)
    for text in after:
        ada.expect_text(text)
    expected += after

    ada_texts = [t for t in ada.texts() if t != "typed while offline"]
    assert ada_texts == expected, "every message exactly once, in order"
    assert ada.texts().count("typed while offline") == 1
    assert grace.texts().count("typed while offline") == 1
    assert wait_for(lambda: echo.proc.poll() is None, what="the supervisor to stay up")


def test_refresh_keeps_the_room(tabs):
    ada = tabs()
    code = ada.create_room("Ada")
    ada.send("said before the refresh")
    ada.page.reload()
    ada.wait_in_room()
    expect(ada.page.locator("#room-name")).to_have_text(code)
    assert ada.page.url.endswith(f"#{code}")
    ada.expect_text("said before the refresh")
    expect(ada.page.locator(".group.own .text", has_text="said before the refresh")).to_have_count(1)
    ada.send("said after the refresh")
    assert ada.texts() == ["said before the refresh", "said after the refresh"]
    expect(ada.page.locator("#member-count")).to_have_text("1 online")


def test_theme_toggle_persists(tabs):
    tab = tabs(color_scheme="dark").open()
    page = tab.page
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 18, 15)"
    page.locator(".theme-toggle").locator("visible=true").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 246, 240)"
    tab.create_room("Ada")
    page.locator(".theme-toggle").locator("visible=true").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    tab.wait_in_room()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")


def test_theme_follows_the_system_until_the_user_picks(tabs):
    tab = tabs(color_scheme="light").open()
    page = tab.page
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 246, 240)"
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 18, 15)"
    page.locator(".theme-toggle").locator("visible=true").click()  # the user picks light
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")
    page.emulate_media(color_scheme="light")
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_room_not_found_is_shown_inline(tabs):
    tab = tabs().open()
    tab.page.fill("#username", "Ada")
    tab.page.fill("#room-code", "no-such-room-" + secrets.token_hex(6))
    tab.page.click("#join-button")
    error = tab.page.locator("#join-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("No room with this code")
    expect(tab.page.locator("#chat-screen")).to_be_hidden()
    expect(tab.page.locator("#room-code")).to_have_attribute("aria-invalid", "true")


def test_bad_files_are_refused_before_sending(tabs):
    tab = tabs()
    tab.create_room("Ada")
    page = tab.page
    cases = [
        # The server's image limit (ECHO_MAX_IMAGE_BYTES, 3 MiB by default), one byte over.
        ({"name": "huge.png", "mimeType": "image/png", "buffer": png_bytes().ljust(3 * 1024 * 1024 + 1, b"\0")}, "at most 3 MB"),
        ({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"}, "is not an image"),
        ({"name": "drawing.svg", "mimeType": "image/svg+xml", "buffer": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}, "is not an image"),
        ({"name": "fake.png", "mimeType": "image/png", "buffer": b"GIF89a not really a png"}, "not a valid PNG"),
    ]
    for file, message in cases:
        page.set_input_files("#file-input", files=[file])
        expect(page.locator(".toast-error", has_text=file["name"]).filter(has_text=message)).to_have_count(1)
        expect(page.locator("#image-bar")).to_be_hidden()
    expect(page.locator(".timeline .bubble")).to_have_count(0)
    assert not [f for f in tab.sent_frames if '"chat"' in f], "nothing may be sent for a refused file"

    # A good image can also be dropped on the chat or pasted into the message box.
    png = list(png_bytes())
    for how in ("drop", "paste"):
        page.evaluate("""([bytes, how]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], how + '.png', { type: 'image/png' }));
            if (how === 'drop') {
                const screen = document.getElementById('chat-screen');
                screen.dispatchEvent(new DragEvent('dragenter', { bubbles: true, dataTransfer: data }));
                screen.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
            } else {
                document.getElementById('composer-input').dispatchEvent(
                    new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: data }));
            }
        }""", [png, how])
        expect(page.locator("#image-bar")).to_be_visible()
        expect(page.locator("#image-name")).to_contain_text(f"{how}.png")
        expect(page.locator("#drop-zone")).to_be_hidden()
        page.click("#image-remove")
        expect(page.locator("#image-bar")).to_be_hidden()


def test_emoji_search_typed_while_the_emoji_load_is_kept(tabs):
    # The emoji list loads on the first open. Someone who types at once used to see their search
    # wiped (and a category shown) when the list arrived; the slow load is made certain here by
    # holding the request until the query is typed.
    tab = tabs()
    tab.create_room("Ada")
    page = tab.page
    held = []
    page.route("**/emoji-data.json", lambda route: held.append(route))
    page.click("#emoji-button")
    expect(page.locator("#emoji-panel .emoji-heading")).to_have_text("Loading…")
    page.fill("#emoji-search", "party popper")
    page.wait_for_function("() => true")  # let Playwright deliver the held request
    assert len(held) == 1, "the emoji list request was not held"
    held[0].continue_()
    expect(page.locator("#emoji-panel .emoji-option", has_text="🎉").first).to_be_visible()
    expect(page.locator("#emoji-search")).to_have_value("party popper")


def test_accessibility_and_screenshots_of_both_screens(tabs):
    """axe-core finds no serious or critical problem on either screen, in either theme, at desktop
    and phone width; the screenshots of each are written for a person to look at."""
    axe = Axe()
    failures = []

    def audit(tab: Tab, name: str):
        result = axe.run(tab.page)
        for violation in result.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:5]
                failures.append(f"{name}: {violation['id']} ({violation['impact']}): {violation['help']} {targets}")
        tab.screenshot(name)

    host = tabs()
    code = host.create_room("Ada")
    for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for theme in ("dark", "light"):
            tab = tabs(viewport=viewport, color_scheme=theme)
            tab.open(f"/#{code}")
            tab.page.fill("#username", f"Grace {theme} {width_name}")
            audit(tab, f"join-{theme}-{width_name}")
            tab.page.click("#join-button")
            tab.wait_in_room()
            if theme == "dark" and width_name == "desktop":
                host.send("Welcome! The link https://example.org/echo is clickable.")
                host.page.set_input_files("#file-input", files=[{"name": "amber.png", "mimeType": "image/png", "buffer": png_bytes(160, 100)}])
                expect(host.page.locator("#image-bar")).to_be_visible()
                host.send("A picture of the colour")
                tab.bubble("A picture of the colour").hover()
                tab.bubble("A picture of the colour").locator(".reply-button").click()
                tab.send("Lovely amber. Replying to the picture.")
                tab.send("🎉🦜")
                host.send("Multi-line works too:\nline two\nline three")
            tab.expect_text("Multi-line works too")
            tab.page.locator("#composer-input").fill("A draft being typed…")
            audit(tab, f"chat-{theme}-{width_name}")
            tab.page.locator("#composer-input").fill("")
            tab.page.click("#leave-button")
            expect(tab.page.locator("#join-screen")).to_be_visible()
    assert not failures, "\n".join(failures)
    shots = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    for name in ("join-dark-desktop.png", "join-light-phone.png", "chat-dark-desktop.png", "chat-light-phone.png"):
        assert name in shots


def test_keyboard_only_sending_replying_and_unread_title(tabs):
    ada = tabs()
    grace = tabs()
    code = ada.create_room("Ada")
    grace.join_by_link(code, "Grace")
    box = ada.page.locator("#composer-input")
    expect(box).to_be_focused()

    # Shift+Enter is a new line, Enter sends.
    box.press_sequentially("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    box.press("Enter")
    ada.wait_sent()
    grace.expect_text("line one")
    assert grace.texts() == ["line one\nline two"]

    # A reply started from the keyboard is cancelled with Escape.
    reply_button = grace.bubble("line one").locator(".reply-button")
    reply_button.focus()
    grace.page.keyboard.press("Enter")
    expect(grace.page.locator("#reply-bar")).to_be_visible()
    expect(grace.page.locator("#composer-input")).to_be_focused()
    grace.page.keyboard.press("Escape")
    expect(grace.page.locator("#reply-bar")).to_be_hidden()
    grace.send("no quote on this one")
    expect(ada.bubble("no quote on this one").locator(".quote")).to_have_count(0)

    # While the tab is hidden, the title counts unread messages; showing it clears the count.
    ada.page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    grace.send("are you there?")
    grace.send("hello?")
    expect(ada.page).to_have_title(re.compile(r"^\(2\) Echo"))
    ada.page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    expect(ada.page).to_have_title(re.compile(r"^Echo"))


def test_offline_page_catches_up_and_says_when_history_is_gone(browser, start_echo):
    """A page that was offline while the room moved on resumes from its last position; when the
    capped stream no longer reaches back that far, the timeline says so (`recovered: false`)."""
    from wsclient import Client

    echo = start_echo(workers=2, ECHO_STREAM_MAXLEN="10", ECHO_HISTORY_LIMIT="50")
    ada = Tab(browser, echo.base)
    try:
        code = ada.create_room("Ada")
        ada.send("first message")
        bot = Client(echo.ws_url)
        bot.join(code, "Bot", action="join")

        # Short outage: everything missed is replayed, nothing twice.
        last_seen = ada.bubble("first message").get_attribute("data-id")
        ada.context.set_offline(True)
        expect(ada.page.locator("#connection-status")).to_have_attribute("data-status", "disconnected")
        for i in range(3):
            bot.chat(code, f"missed {i}")
        bot.recv_until(lambda f: f.get("text") == "missed 2", timeout=10)
        ada.context.set_offline(False)
        ada.wait_in_room()
        for i in range(3):
            ada.expect_text(f"missed {i}")
        assert last_join(ada)["since"] == last_seen
        expect(ada.page.locator(".notice")).to_have_count(0)
        assert ada.texts() == ["first message", "missed 0", "missed 1", "missed 2"]

        # Long outage: far more than the stream keeps.
        ada.context.set_offline(True)
        expect(ada.page.locator("#connection-status")).to_have_attribute("data-status", "disconnected")
        for i in range(400):
            bot.chat(code, f"flood {i}")
        # Stored (and so trimmed) before the page comes back, or it would resume before the trim.
        bot.recv_until(lambda f: f.get("text") == "flood 399", timeout=30)
        ada.context.set_offline(False)
        ada.wait_in_room()
        expect(ada.page.locator(".notice")).to_contain_text("could not be recovered")
        ada.expect_text("flood 399")
        texts = ada.texts()
        assert len(texts) == len(set(texts)), "no message twice"
        floods = [int(t.split()[1]) for t in texts if t.startswith("flood ")]
        assert floods == sorted(floods) and floods[-1] == 399
        bot.ws.close()
        ada.assert_clean()
    finally:
        ada.close()


def test_message_refused_while_redis_is_down_is_sent_once_it_is_back(browser, start_echo):
    """Redis down: the worker answers UNAVAILABLE, the message stays pending in the timeline, and
    it goes out (once) when Redis is back, without the user doing anything."""
    redis = RedisServer().start()
    echo = start_echo(workers=2, redis_url=redis.url)
    ada = Tab(browser, echo.base)
    try:
        ada.create_room("Ada")
        ada.send("before the outage")
        redis.stop()
        wait_for(lambda: http_get(echo.base + "/health", timeout=2)[0] == 503, timeout=15, what="/health to report Redis down")
        ada.send("sent while Redis is down", wait=False)
        pending = ada.page.locator(".timeline-pending .bubble")
        expect(pending).to_have_count(1)
        expect(ada.page.locator(".toast-error", has_text="busy")).not_to_have_count(0)
        expect(pending).to_have_attribute("data-status", re.compile("retrying|sending|waiting"))
        redis = RedisServer(redis.port).start()
        expect(pending).to_have_count(0, timeout=30_000)
        ada.expect_text("sent while Redis is down")
        assert ada.texts().count("sent while Redis is down") == 1
        ada.assert_clean()
    finally:
        ada.close()
        redis.stop()


def test_limits_come_from_the_session_frame_with_the_servers_defaults_before(tabs):
    """The message box and the image check follow the limits of the server's `session` frame; a
    frame without them (a server from before they were sent) leaves the defaults, which are the
    server's own. The frames are rewritten on their way to the page, so both cases run against
    one server."""
    tab = tabs()
    announced = {"limits": None}

    def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message) if isinstance(message, str) else None
            if isinstance(frame, dict) and frame.get("type") == "session":
                frame.pop("limits", None)
                if announced["limits"] is not None:
                    frame["limits"] = announced["limits"]
                message = json.dumps(frame)
            ws.send(message)

        server.on_message(from_server)

    tab.page.route_web_socket(re.compile(r"/ws$"), route)
    tab.create_room("Ada")
    box = tab.page.locator("#composer-input")
    count = tab.page.locator("#char-count")
    expect(box).to_have_attribute("maxlength", "2000")
    box.fill("x" * 1850)
    expect(count).to_be_visible()
    expect(count).to_have_text("1850 / 2000")
    box.fill("")
    tab.page.set_input_files("#file-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": png_bytes().ljust(2_500_000, b"\0")}])
    expect(tab.page.locator("#image-bar")).to_be_visible()
    tab.page.click("#image-remove")

    announced["limits"] = {"messageLength": 50, "imageBytes": 2048, "ratePerMinute": 7, "rateBurst": 3}
    tab.page.reload()
    tab.wait_in_room()
    expect(box).to_have_attribute("maxlength", "50")
    box.fill("x" * 46)
    expect(count).to_be_visible()
    expect(count).to_have_text("46 / 50")
    box.fill("")
    tab.page.set_input_files("#file-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": png_bytes().ljust(4096, b"\0")}])
    expect(tab.page.locator(".toast-error", has_text="big.png").filter(has_text="at most 2 KB")).to_have_count(1)
    expect(tab.page.locator("#image-bar")).to_be_hidden()
    tab.page.set_input_files("#file-input", files=[{"name": "small.png", "mimeType": "image/png", "buffer": png_bytes()}])
    expect(tab.page.locator("#image-bar")).to_be_visible()
    tab.send("x" * 50)
    tab.expect_text("x" * 50)


def test_composer_takes_the_message_length_of_the_worker(browser, start_worker):
    """End to end: a worker started with ECHO_MAX_MESSAGE_LENGTH=50 announces it in its `session`
    frame, and the page's message box counts to 50."""
    worker = start_worker(ECHO_MAX_MESSAGE_LENGTH="50")
    tab = Tab(browser, worker.base)
    try:
        tab.create_room("Ada")
        limits = tab.frames("session")[-1].get("limits")
        assert isinstance(limits, dict) and set(limits) == {"messageLength", "imageBytes", "ratePerMinute", "rateBurst"}, limits
        assert limits["messageLength"] == 50 and limits["imageBytes"] == 3 * 1024 * 1024, limits
        box = tab.page.locator("#composer-input")
        expect(box).to_have_attribute("maxlength", "50")
        box.fill("y" * 48)
        expect(tab.page.locator("#char-count")).to_have_text("48 / 50")
        tab.send("y" * 50)
        tab.expect_text("y" * 50)
        tab.assert_clean()
    finally:
        tab.close()


def test_join_refused_for_too_many_joins_is_sent_again(browser, start_worker):
    """ECHO_JOINS_PER_IP counts every tab behind one address: a join refused with RATE_LIMITED is
    sent again after `retryAfterMs`, with the join screen saying so (the page used to wait there
    for ever, its buttons disabled)."""
    import threading

    from wsclient import Client

    worker = start_worker(ECHO_JOINS_PER_IP="12")  # a burst of 12, then one join every 5 s
    tab = Tab(browser, worker.base)
    stop, drained = threading.Event(), threading.Event()

    def drain():
        # Takes every join the address has, and each one as it comes back, until the page has been
        # refused. Fresh connections: one connection's own join budget (20) must not be what refuses.
        while not stop.is_set():
            bot = Client(worker.ws_url)
            try:
                for _ in range(10):
                    if stop.is_set():
                        break
                    reply = bot.join("drain-" + secrets.token_hex(6), "Bot", action="create")
                    if reply.get("code") == "RATE_LIMITED":
                        drained.set()
                    time.sleep(0.02)
            finally:
                bot.close()

    drainer = threading.Thread(target=drain, daemon=True)
    try:
        tab.open()
        tab.page.fill("#username", "Ada")
        drainer.start()
        assert drained.wait(15), "the address's joins were never used up"
        tab.page.click("#create-button")
        # Playwright's sync API delivers the page's events only while it is called: hence the waits.
        wait_for(lambda: tab.page.wait_for_timeout(50) or any(f.get("code") == "RATE_LIMITED" for f in tab.frames("error")),
                 timeout=10, what="the page's join to be refused for its rate")
        stop.set()
        drainer.join(10)
        expect(tab.page.locator("#join-error")).to_contain_text("Trying again")
        expect(tab.page.locator("#chat-screen")).to_be_visible(timeout=20_000)
        tab.wait_in_room()
        tab.send("in at last")
        tab.assert_clean()
    finally:
        stop.set()
        tab.close()


# The join/resume and outbox logic, driven in the page with a fake connection and timeline: the
# races a real server only shows by chance. Each check returns a description of what went wrong.
MODULE_CHECKS = r"""
async () => {
  const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
  const { Session } = await import(base + 'session.js');
  const { Outbox } = await import(base + 'outbox.js');
  const { PageState, DEFAULT_LIMITS, limitsFrom } = await import(base + 'state.js');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const problems = [];
  const check = (ok, what) => { if (!ok) problems.push(what); };

  const fakeConnection = () => ({
    isOpen: true, sent: [], starts: 0,
    send(frame) { if (this.isOpen) this.sent.push(frame); return this.isOpen; },
    start() { this.starts += 1; }, stop() { this.isOpen = false; },
    joins() { return this.sent.filter((f) => f.type === 'join').map((f) => f.payload); },
    chats() { return this.sent.filter((f) => f.type === 'chat').map((f) => f.payload); },
  });
  const fakeTimeline = () => ({
    statuses: new Map(), shown: new Set(),
    addPending(e) { this.shown.add(e.clientId); this.statuses.set(e.clientId, e.status); },
    setPendingStatus(id, s) { this.statuses.set(id, s); },
    removePending(id) { this.shown.delete(id); this.statuses.delete(id); },
  });
  const setUp = () => {
    sessionStorage.clear();
    const state = new PageState();
    const connection = fakeConnection();
    const timeline = fakeTimeline();
    return { state, connection, timeline, session: new Session(state, connection), outbox: new Outbox(state, connection, timeline) };
  };
  const chat = (id, clientId) => ({ type: 'chat', id, messageId: id, sender: 'Ada', text: id, clientId });

  // Limits: defaults until a session frame says otherwise, each malformed value ignored.
  check(limitsFrom(undefined) === DEFAULT_LIMITS, 'no limits must keep the defaults');
  const some = limitsFrom({ messageLength: 50, imageBytes: 'lots', ratePerMinute: -1 });
  check(some.messageLength === 50 && some.imageBytes === DEFAULT_LIMITS.imageBytes && some.ratePerMinute === DEFAULT_LIMITS.ratePerMinute,
        `malformed limits: ${JSON.stringify(some)}`);
  check(limitsFrom({ messageLength: 0 }).messageLength === DEFAULT_LIMITS.messageLength, 'a message length of 0 is no limit to take');

  {
    // First join, then resume: `since` only once a history has been seen.
    const { state, connection, session } = setUp();
    session.start('room-one', 'Ada', 'create');
    let join = connection.joins().at(-1);
    check(join.action === 'create' && !('since' in join), `first join: ${JSON.stringify(join)}`);
    check(session.acceptSession({ type: 'session', sessionId: 's1', roomId: 'room-one', limits: { messageLength: 77 } }), 'own session frame refused');
    check(state.limits.messageLength === 77, 'the session frame limits were not taken');
    let plan = session.acceptHistory({ type: 'history', messages: [chat('5-0'), { sender: 'System', message: 'join' }] });
    check(plan.fresh && !plan.lost && plan.greeting === 'create' && plan.messages.length === 1, `first history: ${JSON.stringify(plan)}`);
    for (const m of plan.messages) state.receive(m);
    session.lost();
    session.opened();
    join = connection.joins().at(-1);
    check(join.action === 'rejoin' && join.since === '5-0', `resume join: ${JSON.stringify(join)}`);
    plan = session.acceptHistory({ type: 'history', messages: [], recovered: false });
    check(!plan.fresh && plan.lost && plan.greeting === null, `recovered:false: ${JSON.stringify(plan)}`);
    check(!session.acceptSession({ type: 'session', sessionId: 's9', roomId: 'another-room' }), "another room's session accepted");
    // The server forgot us: join again, resuming.
    check(session.handleError('NOT_JOINED', 10) === 'rejoining' && connection.joins().at(-1).since === '5-0', 'NOT_JOINED must rejoin with since');
  }

  {
    // A refused join (rate or busy) is sent again after the delay, unless the room was left.
    const { connection, session } = setUp();
    session.start('room-two', 'Ada', 'join');
    check(session.handleError('RATE_LIMITED', 20) === 'deferred', 'RATE_LIMITED during a join must defer it');
    await sleep(80);
    check(connection.joins().length === 2 && connection.joins()[1].action === 'join', `deferred join: ${JSON.stringify(connection.joins())}`);
    check(session.handleError('UNAVAILABLE', 20) === 'deferred', 'UNAVAILABLE during a join must defer it');
    // Left, and another room entered on a socket open at once, whose join is deferred for longer.
    session.leave();
    check(session.handleError('ROOM_NOT_FOUND', 20) === null, 'an error after leaving is about no join');
    connection.isOpen = true;
    session.start('room-four', 'Ada', 'create');
    session.handleError('UNAVAILABLE', 250);
    await sleep(80);
    check(connection.joins().length === 3, `the left room's deferred join went out: ${JSON.stringify(connection.joins())}`);
    await sleep(300);
    const last = connection.joins().at(-1);
    check(connection.joins().length === 4 && last.roomId === 'room-four' && last.action === 'create', `deferred join of the new room: ${JSON.stringify(last)}`);
  }

  {
    // Outbox: nothing goes out before the join; everything (once each) after; statuses follow errors.
    const { state, connection, timeline, session, outbox } = setUp();
    session.start('room-three', 'Ada', 'create');
    outbox.add({ text: 'early', image: null, replyTo: null });
    const early = [...state.pending.keys()][0];
    check(connection.chats().length === 0 && timeline.statuses.get(early) === 'waiting', 'a message went out before the join');
    session.acceptSession({ type: 'session', sessionId: 's1', roomId: 'room-three' });
    session.acceptHistory({ type: 'history', messages: [] });
    outbox.flush();
    check(connection.chats().length === 1 && connection.chats()[0].clientId === early && timeline.statuses.get(early) === 'sending', 'flush after the history');
    outbox.handleError('RATE_LIMITED', early, 30);
    check(timeline.statuses.get(early) === 'rate-limited', `RATE_LIMITED status: ${timeline.statuses.get(early)}`);
    await sleep(100);
    check(connection.chats().length === 2 && connection.chats()[1].clientId === early, 'a rate-limited message must go out again, same clientId');
    outbox.add({ text: 'x'.repeat(5000), image: null, replyTo: null });
    const long = [...state.pending.keys()][1];
    outbox.handleError('MESSAGE_TOO_LONG', long, 30);
    check(timeline.statuses.get(long) === 'failed', 'a refused message must be failed');
    session.lost();
    outbox.pause();
    check(timeline.statuses.get(early) === 'waiting' && timeline.statuses.get(long) === 'failed', 'a lost connection: in flight waits, failed stays');
    const before = connection.chats().length;
    session.opened();
    session.acceptSession({ type: 'session', sessionId: 's2', roomId: 'room-three' });
    session.acceptHistory({ type: 'history', messages: [], recovered: true });
    outbox.flush();
    const resent = connection.chats().slice(before).map((c) => c.clientId);
    check(resent.length === 1 && resent[0] === early, `after a reconnect only the unconfirmed, unrefused message goes: ${resent}`);
    const { settled } = state.receive(chat('9-0', early));
    if (settled) outbox.confirmed(early);
    check(!state.pending.has(early) && !timeline.shown.has(early), 'the echo of a message must settle it');
    outbox.retry(long);
    check(connection.chats().at(-1).clientId === long, 'retry must send a failed message again');
    outbox.discard(long);
    check(state.pending.size === 0 && !timeline.shown.has(long), 'discard must drop it');
  }
  sessionStorage.clear();
  return problems;
}
"""


def test_session_and_outbox_logic_in_the_page(tabs):
    tab = tabs().open()
    problems = tab.page.evaluate(MODULE_CHECKS)
    assert problems == [], "\n".join(problems)
