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


@pytest.fixture(autouse=True)
def fresh_counts(redis_server):
    """Every test starts with no per-IP counts: the Redis is shared by the whole session, and
    every test here connects from the same few addresses."""
    for pattern in ("ipconn:*", "hs:*", "jn:*"):
        keys = redis_server.cli("--scan", "--pattern", pattern).split()
        if keys:
            redis_server.cli("DEL", *keys)


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
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 400),
    (b"GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400),
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


# ---------------------------------------------------------------- header timeout (slowloris)


def drip(sockets, byte=b"X"):
    """One byte to every socket still open; returns how many are still open."""
    open_ = 0
    for s in sockets:
        if s.fileno() < 0:
            continue
        try:
            s.settimeout(0)
            try:
                if s.recv(1024) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            s.sendall(byte)
            open_ += 1
        except OSError:
            s.close()
    return open_


def slowloris(port, count):
    sockets = []
    for _ in range(count):
        s = connect(port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sockets.append(s)
    return sockets


def test_slowloris_connections_are_closed_and_others_served(start_worker):
    w = start_worker(ECHO_HEADER_TIMEOUT="2")
    sockets = slowloris(w.port, 300)
    try:
        started = time.monotonic()
        still_open = []
        while time.monotonic() - started < 12:
            n = drip(sockets)
            still_open.append(n)
            # Others are served meanwhile.
            assert http_get(w.base + "/health", timeout=5)[0] == 200
            if n == 0:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        assert still_open[-1] == 0, f"still open after {elapsed:.1f}s: {still_open}"
        # Each one a byte a second: none got past the 2 s limit by trickling.
        assert elapsed < 8, still_open
    finally:
        for s in sockets:
            s.close()


def test_header_timeout_bounds_keep_alive_idle_too(start_worker):
    w = start_worker(ECHO_HEADER_TIMEOUT="2")
    s = connect(w.port)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(read_head(s)) == 200
    started = time.monotonic()
    assert closed_by_server(s, timeout=8)
    assert 1.5 < time.monotonic() - started < 7


def test_header_timeout_off_with_0(start_worker):
    w = start_worker(ECHO_HEADER_TIMEOUT="0")
    sockets = slowloris(w.port, 20)
    try:
        for _ in range(4):
            assert drip(sockets) == 20
            time.sleep(1)
    finally:
        for s in sockets:
            s.close()


def test_header_timeout_default_is_10_seconds(start_worker):
    w = start_worker(**{k: v for k, v in {}.items()})  # ECHO_HEADER_TIMEOUT unset: the default
    s = connect(w.port)
    s.sendall(b"GET / HTTP/1.1\r\n")
    started = time.monotonic()
    assert not closed_by_server(s, timeout=8), "closed before the 10 s default"
    assert closed_by_server(s, timeout=8)
    assert 9 < time.monotonic() - started < 16


# ---------------------------------------------------------------- open connections per IP


def open_handshakes(port, count, source="127.0.0.1", headers=None):
    """Opens `count` connections and sends an upgrade on each before reading any answer."""
    sockets = []
    for _ in range(count):
        s = connect(port, source)
        s.sendall(upgrade_request(port, headers=headers))
        sockets.append(s)
    answers = []
    for s in sockets:
        head = read_head(s)
        answers.append((status_of(head), head, s))
    return answers


def test_connection_flood_from_one_address(start_worker, redis_server):
    w = start_worker(ECHO_MAX_CONNECTIONS_PER_IP="200")  # the default
    answers = open_handshakes(w.port, 3000)
    try:
        statuses = [a[0] for a in answers]
        assert statuses.count(101) == 200, {s: statuses.count(s) for s in set(statuses)}
        assert statuses.count(429) == 2800, {s: statuses.count(s) for s in set(statuses)}
        refused = [a for a in answers if a[0] == 429]
        assert header(refused[0][1], "Retry-After") == "5" and header(refused[0][1], "Connection") == "close"
        assert all(closed_by_server(s, timeout=5) for _, _, s in refused[:50])
        # Counted in Redis, with an expiry.
        assert int(redis_server.cli("PTTL", "ipconn:127.0.0.1")) > 0
        # Another address is unaffected, and the server is up.
        status, _, other = ws_handshake(w.port, source="127.0.0.2")
        assert status == 101
        other.close()
        s = connect(w.port, "127.0.0.2")
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(read_head(s)) == 200
        s.close()
    finally:
        for _, _, s in answers:
            s.close()
    # Closed connections stop counting.
    wait_for(lambda: ws_handshake(w.port)[0] == 101, timeout=10, what="127.0.0.1 admitted again")


def test_connection_limit_off_with_0(start_worker):
    w = start_worker(ECHO_MAX_CONNECTIONS_PER_IP="0")
    answers = open_handshakes(w.port, 300)
    try:
        assert [a[0] for a in answers].count(101) == 300
    finally:
        for _, _, s in answers:
            s.close()


def test_connection_limit_is_global_across_workers(start_worker, redis_server):
    a = start_worker(ECHO_MAX_CONNECTIONS_PER_IP="5")
    b = start_worker(ECHO_MAX_CONNECTIONS_PER_IP="5")
    held = open_handshakes(a.port, 3) + open_handshakes(b.port, 2)
    try:
        assert [h[0] for h in held] == [101] * 5
        for port in (a.port, b.port):
            status, head, s = ws_handshake(port)
            s.close()
            assert status == 429, head
        fields = redis_server.cli("HLEN", "ipconn:127.0.0.1")
        assert fields == "2", fields  # one count per worker
    finally:
        for _, _, s in held:
            s.close()
    # Each worker writes its count down as its connections close: nothing is left counted.
    wait_for(lambda: redis_server.cli("EXISTS", "ipconn:127.0.0.1") == "0", timeout=10, what="counts released")
    wait_for(lambda: ws_handshake(b.port)[0] == 101, timeout=10, what="admitted after the others closed")


def test_forwarded_for_is_believed_only_from_trusted_proxies(start_worker):
    w = start_worker(ECHO_MAX_CONNECTIONS_PER_IP="2", ECHO_TRUSTED_PROXIES="127.0.0.2")
    held = []
    try:
        # Through the trusted proxy (127.0.0.2): each forwarded client has its own count.
        for client, expected in [("10.0.0.1", 101), ("10.0.0.1", 101), ("10.0.0.1", 429), ("10.0.0.2", 101)]:
            status, head, s = ws_handshake(w.port, source="127.0.0.2", headers={"X-Forwarded-For": client})
            held.append(s)
            assert status == expected, (client, head)
        # IPv6 clients count by their /64: one subscriber holds a whole /64.
        for client, expected in [("2001:db8::1", 101), ("2001:db8::2", 101), ("2001:db8::3", 429), ("2001:db8:0:1::1", 101)]:
            status, head, s = ws_handshake(w.port, source="127.0.0.2", headers={"X-Forwarded-For": client})
            held.append(s)
            assert status == expected, (client, head)
        # From an untrusted peer the header is ignored: every connection counts as 127.0.0.1.
        for n, expected in enumerate([101, 101, 429]):
            status, head, s = ws_handshake(w.port, headers={"X-Forwarded-For": f"10.0.1.{n}"})
            held.append(s)
            assert status == expected, (n, head)
    finally:
        for s in held:
            s.close()


# ---------------------------------------------------------------- handshakes per IP per second


def concurrent_handshakes(ports, per_port):
    sockets = []
    for _ in range(per_port):
        for port in ports:
            s = connect(port)
            sockets.append((port, s))
    # Every request goes out before any answer is read: the burst takes milliseconds.
    for port, s in sockets:
        s.sendall(upgrade_request(port))
    statuses = [status_of(read_head(s)) for _, s in sockets]
    for _, s in sockets:
        s.close()
    return statuses


def test_handshakes_per_second_are_counted_across_workers(start_worker, redis_server):
    env = dict(ECHO_HANDSHAKES_PER_IP="5")
    a, b = start_worker(**env), start_worker(**env)
    statuses = concurrent_handshakes([a.port, b.port], 10)
    accepted = statuses.count(101)
    # One bucket for both workers: 5 (plus what refills during the burst), not 5 per worker.
    assert 5 <= accepted <= 7, statuses
    assert statuses.count(429) == 20 - accepted
    assert 0 < int(redis_server.cli("PTTL", "hs:127.0.0.1")) <= 2000
    # A second later the bucket has refilled.
    time.sleep(1.2)
    assert concurrent_handshakes([a.port], 3) == [101] * 3


def test_handshake_limit_off_with_0(start_worker):
    a = start_worker(ECHO_HANDSHAKES_PER_IP="0")
    assert concurrent_handshakes([a.port], 40) == [101] * 40


# ---------------------------------------------------------------- joins per IP per minute


def join_attempts(clients, count):
    from wsclient import Client  # noqa: F401  (clients are wsclient.Client)
    outcomes = []
    for n in range(count):
        c = clients[n % len(clients)]
        c.send("join", roomId=f"guess{uuid.uuid4().hex[:8]}", username="guesser", action="join")
        frame = c.recv_until(lambda f: f.get("type") == "error")
        outcomes.append(frame)
    return outcomes


def test_join_attempts_per_minute_are_counted_across_workers(start_worker, redis_server):
    from wsclient import Client
    env = dict(ECHO_JOINS_PER_IP="6")
    a, b = start_worker(**env), start_worker(**env)
    clients = [Client(a.ws_url), Client(b.ws_url)]
    try:
        # Room-code guessing: every guess is a join of a room that does not exist.
        outcomes = join_attempts(clients, 12)
        codes = [o["code"] for o in outcomes]
        assert codes[:6] == ["ROOM_NOT_FOUND"] * 6, codes
        assert codes[6:] == ["RATE_LIMITED"] * 6, codes
        assert all(5000 <= o["retryAfterMs"] <= 10_000 for o in outcomes[6:]), outcomes[6:]
        assert 0 < int(redis_server.cli("PTTL", "jn:127.0.0.1")) <= 61_000
        # The connections stay usable.
        clients[0].send("ping")
        assert clients[0].recv_until(lambda f: f.get("type") == "pong")
    finally:
        for c in clients:
            c.ws.close()


def test_join_limit_off_with_0(start_worker):
    from wsclient import Client
    w = start_worker(ECHO_JOINS_PER_IP="0")
    # More than the default 120 a minute, spread so that no connection's own bucket (20) refuses.
    clients = [Client(w.ws_url) for _ in range(7)]
    try:
        assert [o["code"] for o in join_attempts(clients, 133)] == ["ROOM_NOT_FOUND"] * 133
    finally:
        for c in clients:
            c.ws.close()


# ---------------------------------------------------------------- out of file descriptors


def cpu_seconds(pid) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_out_of_descriptors_backs_off_instead_of_spinning(start_worker):
    import subprocess
    w = start_worker(ECHO_HEADER_TIMEOUT="0")
    pid = w.proc.pid
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    limit = in_use + 16
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:{limit}"], check=True)
    # Far more connections than the worker has descriptors left: the rest wait in the backlog
    # and every accept fails with EMFILE.
    clients = [connect(w.port) for _ in range(60)]
    try:
        time.sleep(1)
        before = cpu_seconds(pid)
        time.sleep(3)
        used = cpu_seconds(pid) - before
        print(f"worker CPU while out of descriptors: {used:.2f}s in 3s")
        assert used < 0.6, f"worker used {used:.2f}s of CPU in 3s while out of descriptors"
        assert "accept failed" in w.logs()
    finally:
        for s in clients:
            s.close()
    # Descriptors free up: it serves again.
    wait_for(lambda: http_get(w.base + "/health", timeout=2)[0] == 200, timeout=15, what="serving after fds freed")


# ---------------------------------------------------------------- admin listener


def listening_ports(pid) -> set[int]:
    import subprocess
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if f"pid={pid}," in line}


def test_admin_listener_serves_metrics_and_details_only(start_worker):
    w = start_worker()
    admin_port = int(w.admin_listen.rsplit(":", 1)[1])
    assert listening_ports(w.proc.pid) == {w.port, admin_port}
    status, _, body = http_get(w.admin_base + "/health")
    assert status == 200 and json.loads(body)["worker"]["pid"] == w.proc.pid
    assert http_get(w.admin_base + "/metrics")[0] == 200
    # The admin port serves neither the web client nor WebSockets.
    assert http_get(w.admin_base + "/")[0] == 404
    status, _, s = ws_handshake(admin_port)
    s.close()
    assert status == 404
    # The public port says only ok or not.
    status, _, body = http_get(w.base + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert http_get(w.base + "/metrics")[0] == 404


def test_admin_listener_off_with_0(start_worker):
    w = start_worker(ECHO_ADMIN_LISTEN="0")
    assert listening_ports(w.proc.pid) == {w.port}
    assert http_get(w.base + "/metrics")[0] == 404


def test_admin_listener_is_shared_by_the_workers_of_one_echo(start_echo):
    echo = start_echo(workers=2)
    pids = set()

    def both_answered():
        status, _, body = http_get(echo.admin_base + "/health")
        health = json.loads(body)
        if status == 200 and health["workers"] == 2:
            pids.add(health["worker"]["pid"])
        return len(pids) == 2
    wait_for(both_answered, timeout=20, interval=0.01, what="both workers on the admin address")
    # SO_REUSEPORT: both workers listen on the one admin address and the kernel spreads requests.
    assert len(pids) == 2, pids


def test_a_leave_right_after_a_join_still_wins_with_the_join_limit_on(start_worker):
    from wsclient import Client
    w = start_worker(ECHO_JOINS_PER_IP="100")
    c = Client(w.ws_url)
    try:
        for _ in range(5):
            c.send("join", roomId=f"r{uuid.uuid4().hex[:8]}", username="quick", action="create")
            c.send("leave")
            c.send("history")
            frame = c.recv_until(lambda f: f.get("type") in ("error", "history", "session"))
            # Processed in the order sent: joined and left before asking, so not a member.
            assert frame.get("type") == "error" and frame["code"] == "NOT_JOINED", frame
    finally:
        c.ws.close()
