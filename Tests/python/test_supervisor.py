"""The supervisor `echo` against real `echo-worker` processes, a real Redis and real signals.

Each test starts `echo` (through conftest's `start_echo` where it fits), does to it what an operator
or a crash would, and checks what clients and systemd see. A fake NOTIFY_SOCKET (a unix datagram
socket) stands in for systemd.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from connect_loop import ConnectLoop
from reload_chat import ChatAcrossReload
from conftest import BIN_DIR, EchoProcess, RedisServer, free_port, http_get, room_code, wait_for
from wsclient import Client

HERE = Path(__file__).resolve().parent
FAKE_WORKER = HERE / "fake_worker.py"


# ---------------------------------------------------------------- helpers


class NotifyReceiver:
    """A fake systemd NOTIFY_SOCKET: records every datagram with its arrival time."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="echo-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.on_message = None
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            if self.on_message:
                self.on_message(fields)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def all(self):
        with self.lock:
            return list(self.messages)

    def with_key(self, key, value=None, since=0.0):
        return [(t, m) for t, m in self.all() if t >= since and key in m and (value is None or m[key] == value)]

    def wait(self, key, value=None, since=0.0, timeout=15.0):
        return wait_for(lambda: self.with_key(key, value, since), timeout=timeout, what=f"{key}={value} on NOTIFY_SOCKET")[-1]

    def close(self):
        self.running = False
        self.sock.close()


@pytest.fixture
def notify():
    receiver = NotifyReceiver()
    yield receiver
    receiver.close()


def children(pid: int) -> list[int]:
    """Live (non-zombie) children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def workers_of(echo: EchoProcess) -> list[int]:
    return sorted(p for p in children(echo.proc.pid) if command_name(p).startswith("echo-worker"))


def worker_slot(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in env:
        if entry.startswith(b"ECHO_WORKER_SLOT="):
            return int(entry.split(b"=", 1)[1])
    raise AssertionError(f"pid {pid} has no ECHO_WORKER_SLOT")


def worker_env(pid: int, key: str) -> str | None:
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(key.encode() + b"="):
            return entry.split(b"=", 1)[1].decode()
    return None


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def established_by_process(port: int) -> dict[int, int]:
    """Established TCP connections on local `port`, counted per owning pid (from `ss -p`)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=5).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def start_raw_echo(*args, env=None, port=None, name="echo-raw") -> EchoProcess:
    """`echo` with exactly these arguments (conftest's start_echo always adds --workers)."""
    return EchoProcess("echo", port or free_port(), env or {}, list(args), name)


def exit_code_within(echo: EchoProcess, seconds: float) -> int:
    try:
        return echo.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"echo still running after {seconds}s:\n{echo.logs()}")


# ---------------------------------------------------------------- sockets and workers


def test_two_workers_share_the_port_and_chat_crosses_them(start_echo):
    echo = start_echo(workers=2)
    workers = wait_for(lambda: len(workers_of(echo)) == 2 and workers_of(echo), what="two workers")
    assert sorted(worker_slot(p) for p in workers) == [0, 1]

    clients = [Client(echo.ws_url) for _ in range(24)]
    try:
        per_worker = wait_for(lambda: (c := established_by_process(echo.port)) and sum(
            c.get(p, 0) for p in workers) >= 24 and c, what="24 connections")
        assert all(per_worker.get(p, 0) > 0 for p in workers), f"connections did not spread: {per_worker}"

        # Find two clients served by different workers: each client's local port → owning pid.
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{echo.port} )"],
                             capture_output=True, text=True).stdout
        owner = {int(m.group(2)): int(m.group(3)) for m in
                 re.finditer(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+).*?pid=(\d+)", out)}
        by_worker: dict[int, Client] = {}
        for c in clients:
            pid = owner.get(c.ws.socket.getsockname()[1])
            if pid is not None:
                by_worker.setdefault(pid, c)
        assert len(by_worker) == 2, f"could not find clients on both workers: {owner}"
        a, b = by_worker.values()
        room = room_code("cross")
        assert a.join(room, "alice", action="create").get("type") == "history"
        assert b.join(room, "bob").get("type") == "history"
        a.chat(room, "hello across workers")
        assert b.next_chat()["text"] == "hello across workers"
        b.chat(room, "and back")
        # Chat goes to every member, the sender included: skip alice's own message.
        assert a.recv_until(lambda f: f.get("text") == "and back")["sender"] == "bob"
    finally:
        for c in clients:
            c.close()

    status, _, body = http_get(echo.base + "/health")
    assert status == 200


def test_listening_sockets_are_one_per_slot_with_backlog_4096(start_echo):
    echo = start_echo(workers=2)
    wait_for(lambda: len(workers_of(echo)) == 2, what="two workers")
    out = subprocess.run(["ss", "-Htlnp", f"( sport = :{echo.port} )"], capture_output=True, text=True).stdout
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 2, out
    for line in lines:
        assert line.split()[2] == "4096", f"backlog is not 4096: {line}"
        # Each slot socket is held by the supervisor and exactly one worker, on fd 3.
        assert f"pid={echo.proc.pid}," in line
        assert line.count('"echo-worker"') == 1 and "fd=3)" in line, line


# ---------------------------------------------------------------- systemd notify


def test_notify_ready_watchdog_stopping(start_echo, notify):
    probes = {}

    def on_message(fields):
        # The moment READY=1 arrives, every slot must already accept: 20 requests spread by the
        # kernel over both sockets; a slot without an accepting worker would leave one hanging.
        if fields.get("READY") == "1" and "first" not in probes:
            statuses = []
            for _ in range(20):
                try:
                    statuses.append(http_get(f"http://127.0.0.1:{port}/health", timeout=2)[0])
                except OSError as e:
                    statuses.append(repr(e))
            probes["first"] = statuses

    notify.on_message = on_message
    port = free_port()
    echo = start_echo(workers=2, port=port, wait=False, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")
    t_ready, ready = notify.wait("READY", "1")
    # Any HTTP answer proves the slot accepts (a worker may still say 503 while its Redis
    # connection comes up); a slot without an accepting worker would time out (status 0 / error).
    wait_for(lambda: "first" in probes, what="probe at READY")
    assert all(status in (200, 503) for status in probes["first"]), probes
    assert "workers" in ready.get("STATUS", ""), ready
    # From READY on, whichever worker answers counts both (not only after the first heartbeats).
    for _ in range(6):
        status, _, body = http_get(echo.admin_base + "/health", timeout=2)  # the detailed health
        assert status == 200 and json.loads(body)["workers"] == 2, body
    starting = [m for t, m in notify.all() if t < t_ready and "STATUS" in m]
    assert starting and starting[0]["STATUS"].startswith("Starting"), starting

    # WATCHDOG=1 every half of WATCHDOG_USEC: about 6 in 3 s.
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 >= 3.0, timeout=5, what="3 s of pings")
    pings = notify.with_key("WATCHDOG", "1", since=t0)
    assert 4 <= len(pings) <= 8, f"{len(pings)} pings in 3 s"

    # A stopped supervisor sends nothing; it resumes when continued.
    echo.signal(signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        wait_for(lambda: time.monotonic() - stopped_at >= 1.5, timeout=3, what="1.5 s stopped")
        assert len(notify.with_key("WATCHDOG", "1", since=stopped_at + 0.1)) == 0
    finally:
        echo.signal(signal.SIGCONT)
    notify.wait("WATCHDOG", "1", since=time.monotonic())

    t_term = time.monotonic()
    echo.signal(signal.SIGTERM)
    _, stopping = notify.wait("STOPPING", "1", since=t_term)
    assert int(stopping["EXTEND_TIMEOUT_USEC"]) >= 10_000_000
    assert exit_code_within(echo, 12) == 0


def test_sighup_sends_reloading_then_ready_and_replaces_every_worker(start_echo, notify):
    echo = start_echo(workers=2, NOTIFY_SOCKET=notify.path)
    notify.wait("READY", "1")
    before = workers_of(echo)
    assert len(before) == 2
    t_hup = time.monotonic()
    echo.signal(signal.SIGHUP)
    t_reloading, reloading = notify.wait("RELOADING", "1", since=t_hup)
    assert int(reloading["MONOTONIC_USEC"]) > 0
    t_ready, _ = notify.wait("READY", "1", since=t_reloading)
    assert t_ready > t_reloading
    after = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers after reload")
    assert not set(after) & set(before), f"old workers survived the reload: {before} → {after}"
    assert sorted(worker_slot(p) for p in after) == [0, 1]


# ---------------------------------------------------------------- restarts


def test_kill_9_of_a_worker_refuses_nothing_and_refills_the_slot(start_echo):
    echo = start_echo(workers=2)
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    victim = workers[0]
    slot = worker_slot(victim)
    with ConnectLoop(echo.port) as loop:
        wait_for(lambda: len(loop.outcomes()) > 50, what="traffic before the kill")
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)

        def refilled():
            return next((p for p in workers_of(echo) if p not in workers and worker_slot(p) == slot), None)

        replacement = wait_for(refilled, timeout=2.0, what="the slot refilled")
        refill_seconds = time.monotonic() - killed_at
        t_after = time.monotonic()
        wait_for(lambda: len(loop.outcomes(after=t_after)) > 100, what="traffic after the refill")
    # A connection made after the kill either queues on the slot's socket (which the supervisor
    # holds) until the new worker takes it, or goes to the other slot: none may fail. Only a
    # request that the dying worker had already accepted can be lost, at most one per client thread.
    late = [o for o in loop.outcomes(after=killed_at + 0.05) if o != "ok"]
    straddling = [o for o in loop.outcomes(after=killed_at - 5, before=killed_at + 0.05) if o != "ok"]
    print(f"kill -9: slot refilled in {refill_seconds:.2f}s; {len(loop.outcomes(after=killed_at))} connects "
          f"after the kill, failures after: {late}, in flight at the kill: {straddling}")
    assert "refused" not in loop.outcomes()
    assert late == []
    assert len(straddling) <= len(loop.threads)
    assert alive(replacement)


def test_hung_worker_is_replaced_after_the_heartbeat_timeout(start_echo):
    echo = start_echo(workers=2, args=["--heartbeat-timeout", "2"])
    # Heartbeats are watched once a worker is ready; one stopped before that is the start
    # timeout's business (30 s), so wait until the supervisor has seen both ready.
    wait_for(lambda: "all workers ready" in echo.log_path.read_text(errors="replace"), what="both workers ready")
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    victim = workers[1]
    slot = worker_slot(victim)
    os.kill(victim, signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        replacement = wait_for(
            lambda: next((p for p in workers_of(echo) if p not in workers and worker_slot(p) == slot), None),
            timeout=2 + 2 + 8, what="a replacement for the hung worker")
        waited = time.monotonic() - stopped_at
        print(f"hung worker replaced after {waited:.2f}s (heartbeat timeout 2 s, SIGKILL grace 2 s)")
        assert waited >= 1.5, f"replaced after {waited:.1f}s: sooner than the heartbeat timeout"
        wait_for(lambda: not alive(victim), timeout=5, what="the hung worker gone")
        assert alive(replacement)
    finally:
        if alive(victim):
            os.kill(victim, signal.SIGKILL)
    assert "missed its heartbeats" in echo.log_path.read_text(errors="replace")


def test_kill_9_of_the_supervisor_takes_every_worker_down(start_echo):
    echo = start_echo(workers=2)
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    echo.proc.kill()
    echo.proc.wait(5)
    wait_for(lambda: not any(alive(p) for p in workers), timeout=2.0, what="every worker gone")


def test_bad_configuration_exits_non_zero_with_a_clear_message(start_echo):
    echo = start_echo(workers=2, wait=False, ECHO_RATE_LIMIT="lots")
    code = exit_code_within(echo, 10)
    assert code == 78
    assert "ECHO_RATE_LIMIT=lots is not valid" in echo.logs()


def test_a_worker_that_reports_a_configuration_error_stops_echo(start_echo):
    # A configuration only the worker can judge: it exits 78 (EX_CONFIG) and must not be restarted.
    echo = start_echo(workers=2, wait=False, args=["--worker-binary", str(FAKE_WORKER)],
                      FAKE_WORKER_EXIT="78")
    assert exit_code_within(echo, 10) == 78
    logs = echo.logs()
    assert "fatal configuration error" in logs
    assert logs.count("started worker") <= 2, "a worker that exited 78 was restarted"


def test_echo_gives_up_only_when_no_worker_can_ever_start(start_echo):
    """Every slot fails at start, again and again, and none ever served: nothing a restart could
    fix from here, so echo exits 1 and systemd's policy takes over."""
    echo = start_echo(workers=2, wait=False, args=["--worker-binary", str(FAKE_WORKER)], FAKE_WORKER_EXIT="3")
    assert exit_code_within(echo, 15) == 1
    logs = echo.logs()
    assert "giving up: no worker could start" in logs and "slot 0: exit code 3" in logs, logs
    # Five tries per slot (back-off 0, 0.1, 0.2, 0.4 s), not one more.
    assert logs.count("started worker") == 10, logs


def test_a_slot_that_cannot_start_backs_off_while_the_others_serve(start_echo, notify):
    echo = start_echo(workers=2, wait=False, args=["--worker-binary", str(FAKE_WORKER)],
                      FAKE_WORKER_EXIT="3", FAKE_WORKER_EXIT_SLOT="0", NOTIFY_SOCKET=notify.path)
    # Slot 1 serves; slot 0 fails 7 times within about 3 s (0, 0.1, 0.2, 0.4, 0.8, 1.6 s apart).
    wait_for(lambda: echo.logs().count("slot=0 [Supervisor] started worker") >= 7, timeout=15,
             what="slot 0 retried with back-off")
    assert echo.proc.poll() is None, echo.logs()
    # Slot 1 answers (a connection the kernel puts on slot 0's socket waits there for a worker).
    wait_for(lambda: http_get(echo.base + "/health", timeout=0.5)[0] == 200, what="slot 1 serving")
    statuses = [m["STATUS"] for _, m in notify.all() if "STATUS" in m]
    assert any("slot 0 backing off" in s and "last: exit code 3" in s for s in statuses), statuses
    echo.signal(signal.SIGTERM)
    assert exit_code_within(echo, 10) == 0


def process_age(pid: int) -> float:
    """Seconds since `pid` started."""
    start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def host_view(echo: EchoProcess, path: str, marker: bytes, timeout=1.0) -> bytes | None:
    """`path` (/health, /metrics) from the listener that serves the host's detailed view: the
    admin listener once it exists, the public one before."""
    for base in (echo.admin_base, echo.base):
        try:
            status, _, body = http_get(base + path, timeout=timeout)
        except OSError:
            continue
        if marker in body:
            return body
    return None


def test_a_kill_loop_on_one_slot_backs_it_off_and_never_stops_the_others(start_echo, notify):
    """The issue's kill loop: slot 0's worker killed 2–3 s after each start, six times. The
    supervisor keeps running, slot 0 backs off (STATUS, /health, /metrics say so) and recovers;
    slot 1's clients are never dropped and no connect is refused."""
    echo = start_echo(workers=2, NOTIFY_SOCKET=notify.path)
    wait_for(lambda: "all workers ready" in echo.logs(), what="both workers ready")
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    by_slot = {worker_slot(p): p for p in workers}

    # Clients on slot 1's worker (the kernel spreads connections over the slots' sockets).
    clients = [Client(echo.ws_url) for _ in range(16)]
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{echo.port} )"],
                         capture_output=True, text=True).stdout
    owner = {int(m.group(2)): int(m.group(3)) for m in
             re.finditer(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+).*?pid=(\d+)", out)}
    keep = [c for c in clients if owner.get(c.ws.socket.getsockname()[1]) == by_slot[1]]
    for c in clients:
        if c not in keep:
            c.close()
    assert len(keep) >= 2, f"no two clients on slot 1: {owner}"
    room = room_code("loop")
    for i, c in enumerate(keep):
        joined = c.join(room, f"k{i}", action="create" if i == 0 else "join")
        assert joined.get("type") == "history", joined

    seen = {"health": None, "metrics": None}
    kills = 6
    victim = by_slot[0]
    with ConnectLoop(echo.port) as loop:
        for kill in range(kills):
            # 2–2.5 s after the worker process started (not after this test noticed it).
            time.sleep(max(0.0, 2 + (kill % 3) * 0.25 - process_age(victim)))
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            # While it backs off (0.1 s after the second kill, doubling), the others report it.
            while time.monotonic() - killed_at < 1.5 and kill >= 2:
                # A short timeout: a request the kernel puts on slot 0's socket waits there for
                # the next worker (that is the point), which would eat the whole window.
                health = host_view(echo, "/health", b'"slots"', timeout=0.15)
                if health and any(s["slot"] == 0 and s["state"] == "backoff" for s in json.loads(health)["slots"]):
                    seen["health"] = json.loads(health)
                metrics = host_view(echo, "/metrics", b"echo_slot_backing_off", timeout=0.15)
                if metrics and b'echo_slot_backing_off{slot="0"} 1' in metrics:
                    seen["metrics"] = metrics.decode()
                if seen["health"] and seen["metrics"]:
                    break
            victim = wait_for(lambda: next((p for p in workers_of(echo) if worker_slot(p) == 0 and p != victim), None),
                              timeout=10, what=f"slot 0's worker after kill {kill + 1}")
            assert echo.proc.poll() is None, echo.logs()
        wait_for(lambda: (h := host_view(echo, "/health", b'"slots"')) and
                 [s["state"] for s in json.loads(h)["slots"]] == ["ready", "ready"], timeout=15, what="slot 0 ready again")
    outcomes = loop.outcomes()
    failures = [o for o in outcomes if o != "ok"]
    print(f"kill loop: {kills} kills, {len(outcomes)} connects, failures {failures}; health during back-off: "
          f"{seen['health'] and seen['health']['slots']}")
    assert echo.proc.poll() is None, "the supervisor gave up"
    assert by_slot[1] in workers_of(echo), "slot 1's worker was replaced"
    assert "refused" not in outcomes
    # A request the killed worker had already accepted may be lost, at most one per loop thread per kill.
    assert len(failures) <= kills * len(loop.threads), failures
    assert seen["health"] is not None, "/health never showed slot 0 backing off"
    slot0 = next(s for s in seen["health"]["slots"] if s["slot"] == 0)
    assert slot0["restarts"] >= 3 and slot0["retryInMs"] >= 0 and slot0["lastExit"] == "signal 9", slot0
    assert seen["metrics"] is not None, "/metrics never showed slot 0 backing off"
    assert re.search(r'echo_slot_restarts_total\{slot="0"\} [3-9]', seen["metrics"]), seen["metrics"]
    statuses = [m["STATUS"] for _, m in notify.all() if "STATUS" in m]
    assert any("slot 0 backing off" in s for s in statuses), statuses
    # Slot 1's clients were never dropped: they still chat.
    keep[0].chat(room, "still here")
    for c in keep[1:]:
        assert c.next_chat(timeout=5)["text"] == "still here"
    for c in keep:
        c.close()


def test_missing_worker_binary_is_a_clear_error(start_echo):
    echo = start_echo(workers=1, wait=False, args=["--worker-binary", "/nonexistent/echo-worker"])
    assert exit_code_within(echo, 10) != 0
    assert "/nonexistent/echo-worker is missing" in echo.logs()


# ---------------------------------------------------------------- signals


def test_sigterm_closes_every_websocket_with_1001_and_exits_0(start_echo):
    echo = start_echo(workers=2, args=["--drain-timeout", "6", "--drain-window", "1"])
    clients = [Client(echo.ws_url) for _ in range(10)]
    room = room_code("term")
    for i, c in enumerate(clients):
        assert c.join(room, f"user{i}", action="create" if i == 0 else "join").get("type") == "history"
    started = time.monotonic()
    echo.signal(signal.SIGTERM)
    codes = []
    for c in clients:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                c.ws.recv(timeout=8)
        codes.append(closed.value.rcvd.code if closed.value.rcvd else None)
    assert codes == [1001] * len(clients)
    assert exit_code_within(echo, 8) == 0
    drain_seconds = time.monotonic() - started
    print(f"SIGTERM drain of {len(clients)} clients: {drain_seconds:.2f}s")
    assert drain_seconds < 6


def test_a_drain_answers_the_http_request_in_flight(start_worker):
    """A worker that drains (SIGTERM alone, `drain` under echo: a reload, a scale-down, a stop)
    answers the HTTP requests it already accepted before it exits. With no WebSocket to close its
    drain used to end at once, and the exit reset such a connection: the 'broken' connect of the
    SIGTTIN/SIGTTOU churn."""
    worker = start_worker()
    s = socket.create_connection(("127.0.0.1", worker.port), timeout=10)
    try:
        # The request head is in: the request is in flight until its body ends.
        s.sendall(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(0.3)
        worker.proc.send_signal(signal.SIGTERM)
        # Past the moment a worker without WebSockets used to exit (about 0.5 s).
        time.sleep(1.5)
        s.sendall(b"cd")
        reply = s.recv(64)
        answered = time.monotonic()
    finally:
        s.close()
    assert reply.startswith(b"HTTP/1.1 "), reply
    # Answered, the connection closes and the worker exits without waiting out its grace.
    assert worker.proc.wait(timeout=10) == 0
    assert time.monotonic() - answered < 1.5


def test_sigint_is_a_fast_stop(start_echo):
    echo = start_echo(workers=2)
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    client = Client(echo.ws_url)
    started = time.monotonic()
    echo.signal(signal.SIGINT)
    exit_code_within(echo, 3)
    wait_for(lambda: not any(alive(p) for p in workers), timeout=3 - (time.monotonic() - started),
             what="workers gone")
    client.close()


def test_second_sigterm_is_a_fast_stop(start_echo):
    echo = start_echo(workers=2, args=["--drain-timeout", "30", "--drain-window", "15"])
    clients = [Client(echo.ws_url) for _ in range(4)]
    room = room_code("slow")
    for i, c in enumerate(clients):
        joined = c.join(room, f"u{i}", action="rejoin")
        assert joined.get("type") == "history", joined  # members to drain, not idle sockets
    echo.signal(signal.SIGTERM)
    wait_for(lambda: "stopping" in echo.logs(), what="drain begun")
    started = time.monotonic()
    echo.signal(signal.SIGTERM)
    exit_code_within(echo, 3)
    assert time.monotonic() - started < 3
    for c in clients:
        c.close()


def test_a_worker_accepts_only_once_redis_answers(start_echo):
    """A connection that arrives while the worker's Redis is not up yet waits in the socket's
    backlog and then joins; accepted early, its join met no Redis connection and got UNAVAILABLE
    (this is what made a rolling reload refuse a join now and then)."""
    redis = RedisServer()
    echo = start_echo(workers=1, redis_url=redis.url, wait=False)
    try:
        def listening():
            with socket.create_connection(("127.0.0.1", echo.port), timeout=1):
                return True
        wait_for(listening, what="the supervisor's socket")
        starter = threading.Timer(1.0, redis.start)
        starter.start()
        client = Client(echo.ws_url)
        history = client.join("early-room", "ann", action="create")
        starter.join()
        assert history.get("type") == "history", history
        client.close()
    finally:
        redis.stop()


def test_sighup_refuses_nothing_and_clients_resume_without_loss(start_echo):
    echo = start_echo(workers=2)
    chat = ChatAcrossReload(echo.ws_url, room_code("hup"))
    with ConnectLoop(echo.port) as loop, chat:
        wait_for(lambda: len(chat.sent) >= 10, what="messages before the reload")
        old = workers_of(echo)
        hup_at = time.monotonic()
        echo.signal(signal.SIGHUP)
        wait_for(lambda: set(workers_of(echo)).isdisjoint(old) and len(workers_of(echo)) == 2,
                 timeout=30, what="every worker replaced")
        reload_seconds = time.monotonic() - hup_at
        wait_for(lambda: chat.closes["receiver"] and chat.closes["sender"], timeout=10, what="both clients moved")
        count = len(chat.sent)
        wait_for(lambda: len(chat.sent) >= count + 10 or chat.failures, timeout=20, what="messages after the reload")
    failures = [o for o in loop.outcomes() if o != "ok"]
    print(f"SIGHUP: reload {reload_seconds:.2f}s, {len(loop.outcomes())} connects, failures {failures}, "
          f"closes {chat.closes}, stalls {chat.stalls}, {len(chat.sent)} messages")
    assert chat.failures == []
    assert failures == []
    # A client that reconnects onto a slot not yet replaced is moved again: every close is 1012.
    assert chat.closes["receiver"] and set(chat.closes["receiver"]) == {1012}, chat.closes
    assert chat.closes["sender"] and set(chat.closes["sender"]) == {1012}, chat.closes
    assert chat.seen == chat.sent, f"lost or duplicated: sent {len(chat.sent)}, seen {len(chat.seen)}"


def test_sigttin_and_sigttou_add_and_remove_a_worker(start_echo, notify):
    echo = start_echo(workers=2, NOTIFY_SOCKET=notify.path)
    wait_for(lambda: len(workers_of(echo)) == 2, what="two workers")
    echo.signal(signal.SIGTTIN)
    three = wait_for(lambda: len(w := workers_of(echo)) == 3 and w, what="three workers")
    assert sorted(worker_slot(p) for p in three) == [0, 1, 2]
    wait_for(lambda: len([l for l in subprocess.run(["ss", "-Htln", f"( sport = :{echo.port} )"],
                                                    capture_output=True, text=True).stdout.splitlines()
                          if l.strip()]) == 3, what="three sockets")
    echo.signal(signal.SIGTTOU)
    two = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="back to two workers")
    assert sorted(worker_slot(p) for p in two) == [0, 1]
    out = subprocess.run(["ss", "-Htln", f"( sport = :{echo.port} )"], capture_output=True, text=True).stdout
    assert len([l for l in out.splitlines() if l.strip()]) == 2
    assert http_get(echo.base + "/health")[0] == 200


def test_echo_reload_waits_for_the_reload_and_rereads_the_env_file(start_echo, tmp_path):
    env_file = tmp_path / "echo.env"
    env_file.write_text("ECHO_HISTORY_LIMIT=40\n")
    runtime = tmp_path / "run"
    echo = start_echo(workers=2, args=["--env-file", str(env_file), "--runtime-dir", str(runtime)])
    workers = wait_for(lambda: len(w := workers_of(echo)) == 2 and w, what="two workers")
    assert {worker_env(p, "ECHO_HISTORY_LIMIT") for p in workers} == {"40"}

    env_file.write_text("ECHO_HISTORY_LIMIT=41\n")
    done = subprocess.run([str(BIN_DIR / "echo"), "reload", "--runtime-dir", str(runtime)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # It returned only once every slot runs a new worker with the new configuration.
    now = [p for p in workers_of(echo) if p not in workers]
    assert len(now) == 2
    assert {worker_env(p, "ECHO_HISTORY_LIMIT") for p in now} == {"41"}
    # The old workers drain (1012) and exit by themselves.
    wait_for(lambda: workers_of(echo) == sorted(now), what="old workers gone")

    # A configuration that does not parse: the reload fails, the workers stay.
    env_file.write_text("ECHO_HISTORY_LIMIT=many\n")
    failed = subprocess.run([str(BIN_DIR / "echo"), "reload", "--runtime-dir", str(runtime)],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0
    assert "ECHO_HISTORY_LIMIT=many" in failed.stderr
    assert workers_of(echo) == now
    assert http_get(echo.base + "/health")[0] == 200


def test_socket_activation_with_reuseport(start_echo, redis_server):
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    fd = listener.fileno()

    def as_fd3():
        os.dup2(fd, 3)

    log = open(Path(tempfile.mkdtemp()) / "echo-activated.log", "wb")
    env = {**os.environ, "REDIS_URL": redis_server.url, "ECHO_RATE_LIMIT": "0", "HOST": "127.0.0.1",
           "PORT": str(port), "LISTEN_FDS": "1"}
    # LISTEN_PID must be the pid that reads it: the shell sets it to its own pid, then execs echo.
    proc = subprocess.Popen(["sh", "-c", f'LISTEN_PID=$$ exec "$0" --workers 2', str(BIN_DIR / "echo")],
                            env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=as_fd3, pass_fds=(3,))
    listener.close()
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200, timeout=20,
                 what="the activated echo")
        out = subprocess.run(["ss", "-Htlnp", f"( sport = :{port} )"], capture_output=True, text=True).stdout
        lines = [l for l in out.splitlines() if l.strip()]
        assert len(lines) == 2 and all('"echo-worker"' in l for l in lines), out
        assert "adopted the socket passed by systemd" in Path(log.name).read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        log.close()


# ---------------------------------------------------------------- embedded Redis


def redis_child(echo: EchoProcess) -> int | None:
    return next((p for p in children(echo.proc.pid) if command_name(p).startswith("redis-server")), None)


def test_embedded_redis_serves_chat_and_is_restarted(start_echo, tmp_path):
    echo = start_echo(workers=2, redis_url=None, args=["--runtime-dir", str(tmp_path / "run")],
                      STATE_DIRECTORY=str(tmp_path / "state"))
    redis_pid = wait_for(lambda: redis_child(echo), what="the embedded redis-server")
    socket_path = tmp_path / "run" / "redis.sock"
    assert socket_path.exists()
    assert {worker_env(p, "REDIS_URL") for p in workers_of(echo)} == {f"unix://{socket_path}"}
    assert (tmp_path / "state" / "redis").is_dir()

    def chat_round_trip(tag):
        a, b = Client(echo.ws_url), Client(echo.ws_url)
        try:
            room = room_code(f"emb{tag}")
            assert a.join(room, "a", action="create").get("type") == "history"
            assert b.join(room, "b").get("type") == "history"
            a.chat(room, f"hi {tag}")
            return b.next_chat()["text"] == f"hi {tag}"
        finally:
            a.close()
            b.close()

    assert chat_round_trip("one")
    os.kill(redis_pid, signal.SIGKILL)
    new_pid = wait_for(lambda: (p := redis_child(echo)) and p != redis_pid and p, timeout=5,
                       what="redis-server restarted")
    wait_for(lambda: http_get(echo.base + "/health", timeout=1)[0] == 200, timeout=15, what="healthy again")
    wait_for(lambda: chat_round_trip("two"), timeout=15, what="chat after the redis restart")

    echo.signal(signal.SIGTERM)
    assert exit_code_within(echo, 15) == 0
    assert not alive(new_pid), "redis-server outlived echo"


def test_kill_9_of_the_supervisor_takes_the_embedded_redis_down_too(start_echo, tmp_path):
    """redis-server is started through echo's own launcher mode (PR_SET_PDEATHSIG, then exec), so
    the kernel stops it when the supervisor dies without stopping it."""
    echo = start_echo(workers=1, redis_url=None, args=["--runtime-dir", str(tmp_path / "run")],
                      STATE_DIRECTORY=str(tmp_path / "state"))
    redis_pid = wait_for(lambda: redis_child(echo), what="the embedded redis-server")
    # The launcher exec'd redis-server (the process is no longer echo).
    assert Path(f"/proc/{redis_pid}/exe").resolve() == Path(shutil.which("redis-server")).resolve()
    assert "setpriv" not in Path(f"/proc/{redis_pid}/cmdline").read_text()
    echo.proc.kill()
    echo.proc.wait(5)
    wait_for(lambda: not alive(redis_pid), timeout=3, what="redis-server gone with its supervisor")


def test_a_redis_server_that_exits_at_start_is_reported_at_once_with_its_words(start_echo, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: cannot open the append-only file' >&2\nexit 3\n")
    fake.chmod(0o755)
    started = time.monotonic()
    echo = start_echo(workers=1, redis_url=None, wait=False,
                      args=["--redis-server", str(fake), "--runtime-dir", str(tmp_path / "run")],
                      STATE_DIRECTORY=str(tmp_path / "state"))
    assert exit_code_within(echo, 10) == 1
    took = time.monotonic() - started
    logs = echo.logs()
    assert "the embedded redis-server exited (exit code 3) before answering" in logs, logs
    assert "FATAL: cannot open the append-only file" in logs, logs
    # Not the 15 s wait for an answer that never comes.
    assert took < 5, f"took {took:.1f}s to notice"


def test_the_launcher_refuses_when_its_parent_is_already_gone():
    """The race PR_SET_PDEATHSIG leaves open: a parent that died before the call is never
    signalled for. The launcher checks its parent is still the expected one."""
    done = subprocess.run([str(BIN_DIR / "echo"), "__exec-with-pdeathsig", "15", "1", "--", "/bin/true"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and "already gone" in done.stderr, done
    ok = subprocess.run([sys.executable, "-c",
                         "import os, subprocess, sys; sys.exit(subprocess.run([sys.argv[1], '__exec-with-pdeathsig', "
                         "'15', str(os.getpid()), '--', '/bin/sh', '-c', 'exit 7']).returncode)", str(BIN_DIR / "echo")],
                        timeout=10)
    assert ok.returncode == 7


def test_missing_redis_server_says_how_to_install_it(start_echo):
    echo = start_echo(workers=1, redis_url=None, wait=False, args=["--redis-server", "/nonexistent/redis-server"])
    assert exit_code_within(echo, 10) != 0
    assert "apt-get install redis-server" in echo.logs() and "REDIS_URL" in echo.logs()
