"""Nothing lost, nothing silent across Redis faults.

Under steady traffic (several senders, several rooms, members on two workers, members that never
disconnect and members that hang up now and then and resume with `since`), a fault is injected in
a real redis-server: kill -9 and restart (with its data, and empty), SIGSTOP for 8 s, the pub/sub
connections killed. Afterwards every client's chat ids are compared with the room's stream: each
must hold the exact sequence from its join, in order and once, or have been told
(`recovered:false`). Run with `-s` to see the figures per fault.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from accounting import AccountingClient, Resp, Truth, check, recovery_seconds, settle
from conftest import RedisServer, http_get, wait_for
from wsclient import Client

TRAFFIC_BEFORE = 3.0
TRAFFIC_AFTER = 5.0


class FaultyRedis(RedisServer):
    """A redis-server that can be killed and restarted on the same port, with or without its data
    (append-only file fsynced on every write: nothing acknowledged is lost to a kill -9)."""

    def __init__(self, persistent: bool):
        super().__init__()
        self.persistent = persistent

    def start(self):
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *persistence, "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", what="redis-server")
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def new_room() -> str:
    return "f" + uuid.uuid4().hex[:10]


def build_members(w1, w2, rooms, *, flapping=True):
    """Per room: two senders (one per worker) and two readers (one per worker) that never
    disconnect, and (except in the first room) a reader that hangs up every ~2 s and resumes,
    alternating workers."""
    clients = []
    for n, r in enumerate(rooms):
        creator = AccountingClient(w1.ws_url, r, f"{r}-s1", action="create", send_every=0.12).start()
        assert creator.joined.wait(10), "creator could not join"
        clients.append(creator)
        clients.append(AccountingClient(w2.ws_url, r, f"{r}-s2", send_every=0.12).start())
        clients.append(AccountingClient(w1.ws_url, r, f"{r}-r1").start())
        clients.append(AccountingClient(w2.ws_url, r, f"{r}-r2").start())
        if flapping and n > 0:
            clients.append(AccountingClient(w1.ws_url, r, f"{r}-flap", disconnect_every=2.0,
                                            urls=[w1.ws_url, w2.ws_url]).start())
    for c in clients:
        assert c.joined.wait(10), f"{c.name} could not join"
    return clients


def print_report(label, report, recovery):
    totals = report.totals()
    print(f"\n[{label}] " + ", ".join(f"{k}={v}" for k, v in totals.items())
          + f", recovery_s={recovery if recovery is None else round(recovery, 2)}")
    for c in report.clients:
        if not c.exact or c.told:
            print(f"  {c.name}: delivered={c.delivered} expected={c.expected} missing={c.missing} "
                  f"dup={c.duplicates} ooo={c.out_of_order} told={c.told} told_gap={c.told_gap}")
    for v in report.violations:
        print("  VIOLATION", v)


def run_fault(start_worker, redis: FaultyRedis, label, inject, rooms_count=3, while_connected=None):
    """Runs the traffic, injects the fault, checks the accounting; `while_connected(workers,
    rooms, clients)` runs after the check, before the members hang up."""
    env = {"ECHO_STREAM_MAXLEN": "100000"}
    w1 = start_worker(redis_url=redis.url, **env)
    w2 = start_worker(redis_url=redis.url, **env)
    rooms = [new_room() for _ in range(rooms_count)]
    clients = build_members(w1, w2, rooms)
    truth = Truth()
    try:
        time.sleep(TRAFFIC_BEFORE)
        truth.snapshot(redis.port, rooms)
        fault_end = inject()
        time.sleep(TRAFFIC_AFTER)
        settle(clients, truth, redis.port, rooms, timeout=25)
        report = check(clients, truth)
        recovery = recovery_seconds(clients, fault_end)
        print_report(label, report, recovery)
        if while_connected:
            while_connected((w1, w2), rooms, clients)
        return report
    finally:
        for c in clients:
            c.stop()


def assert_accounted(report):
    totals = report.totals()
    assert report.violations == [], report.violations
    assert totals["lost"] == 0 and totals["duplicated"] == 0 and totals["out_of_order"] == 0
    assert totals["unconfirmed"] == 0, "a sender's message was never stored"
    assert totals["stored_twice"] == 0, "a retried clientId was stored twice"
    assert totals["delivered"] > 0


def test_redis_kill9_and_restart_with_data(start_worker):
    redis = FaultyRedis(persistent=True).start()
    try:
        def inject():
            redis.kill9()
            time.sleep(1.0)
            redis.start()
            return time.time()

        report = run_fault(start_worker, redis, "kill -9 + restart (AOF always)", inject)
        assert_accounted(report)
        # Redis kept everything, so every member that stayed connected got every message.
        assert report.totals()["told_recovered_false"] == 0
    finally:
        redis.cleanup()


def test_redis_restarted_empty_tells_members_and_rebuilds_presence(start_worker):
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            redis.kill9()
            time.sleep(1.0)
            redis.start()
            return time.time()

        def presence_is_rebuilt(workers, rooms, clients):
            # The first room's members never disconnected and nobody rejoined it: only the
            # workers' presence rebuild can make its info key and members exist again.
            quiet = rooms[0]
            members = [c for c in clients if c.room == quiet]
            newcomer = Client(workers[1].ws_url)
            try:
                history = newcomer.join(quiet, "newcomer", action="join")
                assert history.get("type") == "history", f"join (not create) of a rebuilt room: {history}"
                event = newcomer.recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "newcomer")
                assert event["usersCount"] == len(members) + 1, event
            finally:
                newcomer.close()

        report = run_fault(start_worker, redis, "kill -9 + restart empty", inject, while_connected=presence_is_rebuilt)
        assert_accounted(report)
        # Every member had a position that the empty Redis no longer holds: each was told.
        assert all(c.told >= 1 for c in report.clients), [(c.name, c.told) for c in report.clients]
    finally:
        redis.cleanup()


def test_redis_paused_8s(start_worker):
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            redis.proc.send_signal(signal.SIGSTOP)
            try:
                time.sleep(8.0)
            finally:
                redis.proc.send_signal(signal.SIGCONT)
            return time.time()

        report = run_fault(start_worker, redis, "SIGSTOP 8 s", inject)
        assert_accounted(report)
        assert report.totals()["told_recovered_false"] == 0, "nothing was lost: nobody should be told"
    finally:
        redis.cleanup()


def test_pubsub_connections_killed(start_worker):
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            for _ in range(3):
                redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
                time.sleep(0.3)
            return time.time()

        report = run_fault(start_worker, redis, "CLIENT KILL TYPE pubsub x3", inject)
        assert_accounted(report)
        assert report.totals()["told_recovered_false"] == 0
    finally:
        redis.cleanup()


def test_every_worker_connection_killed_repeatedly(start_worker):
    """Both connections of every worker drop at once and reconnect on their own back-off: a
    worker's pub/sub connection is often back before its command connection (the catch-up must
    wait and retry), and another worker may publish before this one resubscribed."""
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            admin = Resp(redis.port)
            try:
                for _ in range(6):
                    admin.command("CLIENT", "KILL", "TYPE", "pubsub")
                    admin.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                    time.sleep(0.4)
            finally:
                admin.close()
            return time.time()

        report = run_fault(start_worker, redis, "all connections killed x6", inject)
        assert_accounted(report)
        assert report.totals()["told_recovered_false"] == 0
    finally:
        redis.cleanup()


def test_a_redis_that_accepts_but_never_answers_is_retried(start_worker):
    """A connection attempt whose handshake is never answered is given up after the timeout and
    made again (it used to wait forever, so a Redis hung at that moment was never reconnected)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)  # kept open, never answered
            except socket.timeout:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        start_worker(redis_url=f"redis://127.0.0.1:{port}", wait=False, ECHO_REDIS_TIMEOUT_MS="500")
        # Two connections (commands, pub/sub) at first; each unanswered handshake is dropped after
        # 0.5 s and tried again after the back-off.
        wait_for(lambda: len(accepted) >= 6, timeout=10, what="connection attempts after unanswered handshakes")
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def epoch_known(redis):
    """The workers read Redis's data epoch once connected (within ~0.1 s)."""
    wait_for(lambda: redis.cli("GET", "echo:epoch"), what="the data epoch")
    time.sleep(0.5)


def told_history(client, timeout=15.0):
    return client.recv_until(lambda f: f.get("type") == "history", timeout=timeout)


def test_members_who_saw_nothing_yet_are_told_when_redis_comes_back_empty(start_worker):
    """A member that has no position (joined an empty room, nothing said since) cannot be checked
    against the stream; only the data epoch shows that Redis lost what it held."""
    redis = FaultyRedis(persistent=False).start()
    try:
        w1 = start_worker(redis_url=redis.url)
        w2 = start_worker(redis_url=redis.url)
        r = new_room()
        a = Client(w1.ws_url)
        assert a.join(r, "alice", action="create")["messages"] == []
        b = Client(w2.ws_url)
        assert b.join(r, "bob")["messages"] == []
        epoch_known(redis)
        redis.kill9()
        time.sleep(0.5)
        redis.start()
        for c in (a, b):
            frame = told_history(c)
            assert frame["recovered"] is False and frame["messages"] == []
        # And the room is whole again: a chat reaches both, once.
        a.chat(r, "after", clientId="after-1")
        for c in (a, b):
            assert c.next_chat(timeout=10)["text"] == "after"
        a.close()
        b.close()
    finally:
        redis.cleanup()


def test_a_flushed_redis_is_noticed_without_any_connection_dropping(start_worker):
    """FLUSHALL keeps every connection up: the data epoch, read at each presence refresh, is what
    notices; members are told and presence (the room itself) comes back."""
    redis = FaultyRedis(persistent=False).start()
    try:
        w = start_worker(redis_url=redis.url, ECHO_PRESENCE_TTL="3")
        r = new_room()
        a = Client(w.ws_url)
        a.join(r, "alice", action="create")
        a.chat(r, "before")
        a.next_chat()
        epoch_known(redis)
        redis.cli("FLUSHALL")
        started = time.monotonic()
        frame = told_history(a, timeout=10)
        assert frame["recovered"] is False and frame["messages"] == []
        print(f"\n[FLUSHALL] told after {time.monotonic() - started:.2f}s")
        newcomer = Client(w.ws_url)
        wait_for(lambda: newcomer.join(r, "bob", action="join").get("type") == "history", timeout=10,
                 what="the flushed room joinable again")
        a.close()
        newcomer.close()
    finally:
        redis.cleanup()
