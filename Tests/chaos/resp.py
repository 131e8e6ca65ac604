"""A minimal synchronous Redis client (RESP2 over a socket): enough for XRANGE, INFO and CONFIG.

The chaos harness reads the rooms' streams as the ground truth; redis-cli's text output is
ambiguous for nested replies, and the repo has no Redis package (no new PyPI dependency).
"""
from __future__ import annotations

import socket


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(max(65536, n))
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")


def xrange_all(port: int, key: str, batch: int = 2000) -> list[tuple[str, bytes]]:
    """Every entry of a stream as (id, field d), oldest first."""
    out: list[tuple[str, bytes]] = []
    start = "-"
    with Redis(port) as r:
        while True:
            entries = r.call("XRANGE", key, start, "+", "COUNT", batch) or []
            for entry_id, fields in entries:
                d = b""
                for i in range(0, len(fields), 2):
                    if fields[i] == b"d":
                        d = fields[i + 1]
                out.append((entry_id.decode(), d))
            if len(entries) < batch:
                return out
            start = "(" + entries[-1][0].decode()
