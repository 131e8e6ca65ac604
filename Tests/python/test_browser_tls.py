"""The web client over https and wss in a real browser (Debian's chromium through Playwright)
against a real `echo` with two workers serving TLS with a leaf of a throwaway CA.

Chromium trusts that CA only through `--ignore-certificate-errors-spki-list` with the CA's key hash
(never a blanket ignore): the flag matches any certificate of the chain the server presents, and
ECHO_TLS_CERT carries leaf + CA. The last test shows the flag is what makes the page load.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from conftest import start_tls_echo
from test_browser import CHROMIUM, PHONE, Tab, join_and_find_worker, join_on_another_worker
from tlsca import TestCA


@pytest.fixture
def test_ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def tls_echo(start_echo, test_ca):
    return start_tls_echo(start_echo, test_ca, serial=0xB0B)


@pytest.fixture
def launch():
    """launch(spki_hash) starts Chromium trusting the key with that hash (base64 SHA-256 of its SPKI)."""
    playwright = sync_playwright().start()
    browsers = []

    def start(spki_hash: str):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={spki_hash}"])
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()
    playwright.stop()


def test_two_pages_chat_over_https_and_wss_on_two_workers(launch, test_ca, tls_echo):
    browser = launch(test_ca.spki_hash)
    base = f"https://localhost:{tls_echo.port}"
    sockets: list[str] = []
    tabs: list[Tab] = []

    def tab(**kwargs) -> Tab:
        opened = Tab(browser, base, **kwargs)
        opened.page.on("websocket", lambda ws: sockets.append(ws.url))
        tabs.append(opened)
        return opened

    try:
        ada = tab()
        response = ada.page.goto(base + "/")
        assert response.status == 200 and response.url.startswith("https://")
        assert "max-age=" in (response.headers.get("strict-transport-security") or ""), response.headers
        ada.page.fill("#username", "Ada")
        ada_worker = join_and_find_worker(ada, tls_echo, lambda: (ada.page.click("#create-button"), ada.wait_in_room()))
        code = ada.page.locator("#room-name").inner_text()
        assert ada.page.url == f"{base}/#{code}"

        # The pages must be served by different workers: the fan-out between them crosses Redis.
        grace, grace_worker, attempts = join_on_another_worker(
            lambda: tab(viewport=PHONE, color_scheme="light"), tls_echo, code, "Grace", ada_worker)
        assert grace_worker != ada_worker

        # Every attempt that landed on Ada's worker joined (and left) too: Ada saw each one.
        expect(ada.system_line("Grace joined")).to_have_count(attempts)
        expect(ada.page.locator("#member-count")).to_have_text("2 online")
        ada.send("Hello Grace, over TLS")
        grace.expect_text("Hello Grace, over TLS")
        grace.send("Hi Ada, encrypted both ways 🔒")
        ada.expect_text("Hi Ada, encrypted both ways 🔒")
        for i in range(5):
            (ada if i % 2 else grace).send(f"message {i}")
        expected = ["Hello Grace, over TLS", "Hi Ada, encrypted both ways 🔒", *(f"message {i}" for i in range(5))]
        for page in (ada, grace):
            page.expect_text("message 4")
            assert page.texts() == expected

        assert sockets and all(url == f"wss://localhost:{tls_echo.port}/ws" for url in sockets), sockets
        ada.screenshot("chat-over-tls")
        for opened in tabs:
            opened.assert_clean()
    finally:
        for opened in tabs:
            opened.close()


def test_chromium_refuses_echo_when_the_hash_is_another_keys(launch, test_ca, tmp_path, tls_echo):
    """The control: the same browser flag with another CA's hash, and the page does not load."""
    browser = launch(TestCA(tmp_path / "other-ca", name="Another CA").spki_hash)
    page = browser.new_page()
    with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
        page.goto(f"https://localhost:{tls_echo.port}/")
