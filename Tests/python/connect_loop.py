"""Clients that connect, ask /health and disconnect in a tight loop: the proof that a restart,
reload or kill refuses no connection."""
from __future__ import annotations

import socket
import threading
import time


class ConnectLoop:
    """Records each attempt's start time and outcome: 'ok', 'refused' (connect failed) or 'broken'
    (connected, then reset or closed without an answer). `start_in`, when given, is a context
    manager factory the threads are started in (a network namespace's, for example)."""

    def __init__(self, port: int, threads: int = 4, timeout: float = 5.0, start_in=None):
        self.port = port
        self.timeout = timeout
        self.start_in = start_in
        self.results: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _attempt(self) -> str:
        s = socket.socket()
        s.settimeout(self.timeout)
        try:
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                return "refused"
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return "ok" if s.recv(64).startswith(b"HTTP/1.1 ") else "broken"
            except OSError:
                return "broken"
        finally:
            s.close()

    def _run(self):
        while not self.stop_flag.is_set():
            started = time.monotonic()
            outcome = self._attempt()
            with self.lock:
                self.results.append((started, outcome))

    def __enter__(self):
        if self.start_in is None:
            for t in self.threads:
                t.start()
        else:
            # Threads started inside the block stay in its context (a namespace's network) for good.
            with self.start_in():
                for t in self.threads:
                    t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)

    def outcomes(self, after=0.0, before=float("inf")):
        with self.lock:
            return [o for t, o in self.results if after <= t < before]
