"""Two clients chatting through a reload, restart or kill: the proof that every message of the room
reaches the receiver exactly once, in order, across the 1012 closes and resumes."""
from __future__ import annotations

import contextlib
import threading
import time

from websockets.exceptions import ConnectionClosed

from wsclient import Client


class ChatAcrossReload:
    """A sender that sends m0, m1, ... (each with its clientId, resent after a reconnect or a stall,
    so the server's idempotency keeps it once) and a receiver that resumes with `since` after every
    close. `start_in`, when given, is a context manager factory the clients and threads are started
    in (a network namespace's, for example).

    After `stop()`: `sent` and `seen` (texts), `closes` (close codes per client), `stalls` (sends
    whose echo did not come within `echo_timeout`, then resent), `errors` (failed reconnects) and
    `failures` (an exception that ended a loop; empty when all went well)."""

    def __init__(self, ws_url: str, room: str, start_in=None, echo_timeout: float = 5.0,
                 reconnect_attempts: int = 100):
        self.ws_url = ws_url
        self.room = room
        self.start_in = start_in or contextlib.nullcontext
        self.echo_timeout = echo_timeout
        self.reconnect_attempts = reconnect_attempts
        self.sent: list[str] = []
        self.seen: list[str] = []
        self.closes: dict[str, list[int | None]] = {"sender": [], "receiver": []}
        self.stalls: list[str] = []
        self.errors: list[str] = []
        self.failures: list[str] = []
        self.last_id = None
        self._stop = threading.Event()
        with self.start_in():
            self.sender, self.receiver = Client(ws_url), Client(ws_url)
        assert self.sender.join(room, "sender", action="create").get("type") == "history"
        assert self.receiver.join(room, "receiver").get("type") == "history"
        self._threads = [threading.Thread(target=self._guard, args=(self._send_loop,), daemon=True),
                         threading.Thread(target=self._guard, args=(self._receive_loop,), daemon=True)]

    def __enter__(self):
        with self.start_in():
            for t in self._threads:
                t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self, timeout: float = 20):
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        for c in (self.sender, self.receiver):
            with contextlib.suppress(Exception):
                c.close()

    def all_closes(self) -> list[int | None]:
        return self.closes["sender"] + self.closes["receiver"]

    def _guard(self, loop):
        try:
            loop()
        except Exception as e:  # reported by the test through `failures`, never swallowed
            self.failures.append(f"{loop.__name__}: {e!r}")

    def _reconnect(self, name: str, since=None):
        for _ in range(self.reconnect_attempts):
            try:
                with self.start_in():
                    c = Client(self.ws_url)
                return c, c.join(self.room, name, action="rejoin", since=since)
            except Exception as e:  # a drained race: the port never refuses
                self.errors.append(f"{name}: {e!r}")
                time.sleep(0.05)
        raise AssertionError(f"{name} could not reconnect: {self.errors[-3:]}")

    def _send_loop(self):
        i = 0
        while not self._stop.is_set():
            text, client_id = f"m{i}", f"c{i}"
            try:
                self.sender.chat(self.room, text, clientId=client_id)
                reply = self.sender.recv_until(
                    lambda f: f.get("text") == text or f.get("clientId") == client_id, timeout=self.echo_timeout)
                if reply.get("type") == "error":
                    # A limited send (echo.env as shipped allows 60 a minute) is retried after the
                    # delay the server names.
                    assert reply["code"] == "RATE_LIMITED", reply
                    time.sleep(reply.get("retryAfterMs", 1000) / 1000)
                    continue
                self.sent.append(text)
                i += 1
            except (ConnectionClosed, TimeoutError) as e:
                if isinstance(e, ConnectionClosed):
                    self.closes["sender"].append(e.rcvd.code if e.rcvd else None)
                else:  # the echo did not come: resend on a new connection
                    self.stalls.append(text)
                    with contextlib.suppress(Exception):
                        self.sender.close()
                self.sender, history = self._reconnect("sender")
                # A send stored before the close is in the history the rejoin returns, and the
                # server answers its resend with nothing more (docs/protocol.md, "Idempotent
                # sends"): that copy is the confirmation. Otherwise m{i} is resent.
                if any(m.get("clientId") == client_id for m in history.get("messages", [])):
                    self.sent.append(text)
                    i += 1
            time.sleep(0.01)

    def _receive_loop(self):
        while not self._stop.is_set() or len(self.seen) < len(self.sent):
            try:
                frame = self.receiver.recv(timeout=0.5)
            except TimeoutError:
                if self._stop.is_set():
                    return
                continue
            except ConnectionClosed as e:
                self.closes["receiver"].append(e.rcvd.code if e.rcvd else None)
                self.receiver, history = self._reconnect("receiver", since=self.last_id)
                assert history.get("recovered") is True, history
                for m in history["messages"]:
                    self._see(m)
                continue
            if "text" in frame and frame.get("sender") != "System":
                self._see(frame)

    def _see(self, message: dict):
        self.seen.append(message["text"])
        self.last_id = message["id"]
