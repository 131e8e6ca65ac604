"""A small synchronous Echo Chat protocol client for tests (websockets' sync API)."""
from __future__ import annotations

import base64
import json
import os
import time

from websockets.sync.client import connect


class Client:
    def __init__(self, url: str, **kwargs):
        self.ws = connect(url, max_size=16 * 1024 * 1024, open_timeout=10, **kwargs)
        self.session_id = None

    def send(self, type_, **payload):
        frame = {"type": type_}
        if payload:
            frame["payload"] = payload
        self.ws.send(json.dumps(frame))

    def send_raw(self, data):
        self.ws.send(data)

    def recv(self, timeout=5.0) -> dict:
        return json.loads(self.ws.recv(timeout=timeout))

    def recv_until(self, predicate, timeout=5.0) -> dict:
        """Frames are read (and dropped) until one matches."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = self.recv(timeout=left)
            if predicate(frame):
                return frame

    def join(self, room, username, action="join", since=None, timeout=5.0):
        payload = {"roomId": room, "username": username, "action": action}
        if since is not None:
            payload["since"] = since
        self.send("join", **payload)
        session = self.recv_until(lambda f: f.get("type") in ("session", "error"), timeout)
        if session.get("type") == "error":
            return session
        self.session_id = session["sessionId"]
        history = self.recv_until(lambda f: f.get("type") == "history", timeout)
        return history

    def chat(self, room, text=None, **extra):
        payload = {"roomId": room, **extra}
        if text is not None:
            payload["message"] = text
        self.send("chat", **payload)

    def next_chat(self, timeout=5.0) -> dict:
        return self.recv_until(lambda f: "text" in f and f.get("sender") != "System", timeout)

    def next_error(self, timeout=5.0) -> dict:
        return self.recv_until(lambda f: f.get("type") == "error", timeout)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def carries(frame: dict, text: str) -> bool:
    """A chat with `text`, or a history holding it (a member reset with `recovered:false`, after a
    failover or a Redis that lost its data, gets the room as it stands instead of the live chat)."""
    return frame.get("text") == text or any(m.get("text") == text for m in frame.get("messages") or [])


def join_announcing(url, room_id, name, action="join", **fields):
    """A join with the newer fields (`features`, `authorKey`, `since`; None ones left out).
    Returns the client (its `session_id` and granted `features` set), the session frame and the
    history frame."""
    c = Client(url)
    payload = {"roomId": room_id, "username": name, "action": action}
    payload.update({k: v for k, v in fields.items() if v is not None})
    c.send("join", **payload)
    session = c.recv_until(lambda f: f.get("type") in ("session", "error"))
    assert session["type"] == "session", session
    c.session_id = session["sessionId"]
    c.features = session.get("features")
    history = c.recv_until(lambda f: f.get("type") == "history")
    return c, session, history


def frames_until_chat(c: Client, text: str) -> list[dict]:
    """Every frame up to and including the chat `text`. Whatever the same connection published
    before that chat arrives before it (one Redis connection, one channel, in order), so a test
    sends a chat after what it looks for and tells "not delivered" without waiting for a timeout."""
    frames = []
    while True:
        f = c.recv()
        frames.append(f)
        if f.get("type") == "chat" and f.get("text") == text:
            return frames


def author_key() -> str:
    """A fresh `authorKey` (or `ownerKey`-shaped value): 32 random bytes, base64url, no padding."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
