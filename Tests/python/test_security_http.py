"""Everything before a WebSocket is a room member: HTTP strictness and the admission defences
(docs/security.md). Real redis-server, real echo-worker / echo processes, raw sockets."""
from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from conftest import http_get, wait_for

UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n")


def upgrade_request(port, version="13", key=None, headers=None) -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return UPGRADE.format(port=port, key=key, version=version, extra=extra).encode()


def connect(port, source="127.0.0.1", timeout=10.0) -> socket.socket:
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_head(s) -> bytes:
    """The response head (up to the blank line); b"" when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def closed_by_server(s, timeout=5.0) -> bool:
    """True when the server closes the connection (recv returns b"") within `timeout`, after
    reading away whatever it still sends; False when it stays open."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if s.recv(65536) == b"":
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    return False


def ws_handshake(port, source="127.0.0.1", headers=None) -> tuple[int, bytes, socket.socket]:
    s = connect(port, source)
    s.sendall(upgrade_request(port, headers=headers))
    head = read_head(s)
    return status_of(head), head, s


def header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


# ---------------------------------------------------------------- hostile HTTP


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    (None, 426),  # WebSocket version 8
    (None, 400),  # a key that is not 16 base64 bytes
])
def test_refusals_close_the_connection(start_worker, request_bytes, status):
    w = start_worker()
    if request_bytes is None:
        request_bytes = (upgrade_request(w.port, version="8") if status == 426
                         else upgrade_request(w.port, key="bad"))
    s = connect(w.port)
    s.sendall(request_bytes)
    head = read_head(s)
    assert status_of(head) == status, head
    assert (header(head, "Connection") or "").lower() == "close", head
    assert closed_by_server(s), "the socket stayed open after a response saying Connection: close"
    assert http_get(w.base + "/health")[0] == 200


def test_symlink_out_of_the_web_root_is_not_served(start_worker, tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "passwd").symlink_to("/etc/passwd")
    (web / "inside.txt").write_text("inside")
    (web / "alias.txt").symlink_to("inside.txt")
    w = start_worker(ECHO_WEB_ROOT=str(web))
    status, _, body = http_get(w.base + "/passwd")
    assert status == 404 and b"root:" not in body
    assert http_get(w.base + "/alias.txt")[:3:2] == (200, b"inside")
