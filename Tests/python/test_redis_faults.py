"""Nothing lost, nothing silent across Redis faults.

Under steady traffic (several senders, several rooms, members on two workers, members that never
disconnect and members that hang up now and then and resume with `since`), a fault is injected in
a real redis-server: kill -9 and restart (with its data, and empty), SIGSTOP for 8 s, the pub/sub
connections killed. Afterwards every client's chat ids are compared with the room's stream: each
must hold the exact sequence from its join, in order and once, or have been told
(`recovered:false`). Run with `-s` to see the figures per fault.
"""
from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import RedisServer, room_code, wait_for
from wsclient import Client

# The accounting clients and their checker are the chaos suite's (Tests/chaos), imported the way
# test_chaos_short.py does.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from checker import recovery_seconds  # noqa: E402
from fleet import Fleet  # noqa: E402
from resp import Redis  # noqa: E402

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
    return room_code("f")


def print_report(label, summary, recovery):
    print(f"\n[{label}] " + ", ".join(f"{k}={v}" for k, v in summary.figures().items())
          + f", recovery_s={recovery if recovery is None else round(recovery, 2)}")
    for v in summary.verdicts:
        if not v.exact or v.told:
            print("  " + v.describe())
    for line in summary.violations:
        print("  VIOLATION", line)


async def traffic(workers, redis: FaultyRedis, label, inject, rooms_count, while_connected, wiped):
    # Per room: two senders (one per worker) and two members (one per worker) that never
    # disconnect, and (except in the first room) a member that hangs up every 1-3 s and resumes,
    # alternating workers. The senders keep sending through the fault (up to 64 unconfirmed each),
    # so many chats are refused UNAVAILABLE and retried with their clientIds.
    fleet = Fleet([w.ws_url for w in workers], rooms=rooms_count, senders=2, members=2, resumers=1, quiet_rooms=1,
                  send_interval=0.12, resume_every=(1.0, 3.0), max_pending=64, tag="f")
    try:
        await fleet.start(join_timeout=10)
        await asyncio.sleep(TRAFFIC_BEFORE)
        fleet.snapshot_truth(redis.port)
        await asyncio.to_thread(inject)  # the clients keep running meanwhile
        fault_end = time.monotonic()
        await asyncio.sleep(TRAFFIC_AFTER)
        await fleet.settle(redis.port, timeout=25)
        summary = fleet.summary(received_counts_as_stored=wiped)
        print_report(label, summary, recovery_seconds(fleet.logs, [fault_end]))
        if while_connected:
            await asyncio.to_thread(while_connected, workers, fleet.rooms, fleet.clients)
        return summary
    finally:
        await fleet.close()


def run_fault(start_worker, redis: FaultyRedis, label, inject, rooms_count=3, while_connected=None, wiped=False):
    """Runs the traffic, injects the fault (`inject()`, blocking, in a thread), checks the
    accounting; `while_connected(workers, rooms, clients)` runs after the check, before the
    members hang up. `wiped`: Redis lost what it held, so an id a client received may be in no
    stream (it counts as stored)."""
    env = {"ECHO_STREAM_MAXLEN": "100000"}
    workers = (start_worker(redis_url=redis.url, **env), start_worker(redis_url=redis.url, **env))
    return asyncio.run(traffic(workers, redis, label, inject, rooms_count, while_connected, wiped))


def assert_accounted(summary):
    assert summary.violations == [], summary.violations
    assert summary.lost == 0 and summary.duplicated == 0 and summary.out_of_order == 0
    assert summary.phantom == 0, "a client received a message that is in no stream"
    assert summary.unconfirmed == 0, "a sender's message was never stored"
    assert summary.stored_twice == [], "a retried clientId was stored twice"
    assert summary.delivered > 0


def test_redis_kill9_and_restart_with_data(start_worker):
    redis = FaultyRedis(persistent=True).start()
    try:
        def inject():
            redis.kill9()
            time.sleep(1.0)
            redis.start()

        report = run_fault(start_worker, redis, "kill -9 + restart (AOF always)", inject)
        assert_accounted(report)
        # Redis kept everything, so every client got every message (assert_accounted). The
        # restart gave Redis a new replication id, and a restart that kept everything cannot be
        # told from one that lost its last writes (appendfsync everysec, a snapshot): a client
        # whose position was written before it is told recovered:false, once, with the history
        # as it stands (the failover marker: JoinScript, ResyncScript). A resumer (r<n>-...) may be
        # told twice: its resume from the mark itself, told, is caught up again from the same mark
        # when the join overlapped the worker's own catch-up.
        assert all(v.told <= (2 if v.name.startswith("r") else 1) for v in report.verdicts), \
            [v.describe() for v in report.verdicts]
    finally:
        redis.cleanup()


def test_redis_restarted_empty_tells_members_and_rebuilds_presence(start_worker):
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            redis.kill9()
            time.sleep(1.0)
            redis.start()

        def presence_is_rebuilt(workers, rooms, clients):
            # The first room's members never disconnected and nobody rejoined it: only the
            # workers' presence rebuild can make its info key and members exist again.
            quiet = rooms[0]
            members = [c for c in clients if c.log.room == quiet]
            newcomer = Client(workers[1].ws_url)
            try:
                history = newcomer.join(quiet, "newcomer", action="join")
                assert history.get("type") == "history", f"join (not create) of a rebuilt room: {history}"
                event = newcomer.recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "newcomer")
                assert event["usersCount"] == len(members) + 1, event
            finally:
                newcomer.close()

        report = run_fault(start_worker, redis, "kill -9 + restart empty", inject, while_connected=presence_is_rebuilt,
                           wiped=True)
        assert_accounted(report)
        # Every member had a position that the empty Redis no longer holds: each was told.
        assert all(v.told >= 1 for v in report.verdicts), [(v.name, v.told) for v in report.verdicts]
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

        report = run_fault(start_worker, redis, "SIGSTOP 8 s", inject)
        assert_accounted(report)
        assert report.recovered_false == 0, "nothing was lost: nobody should be told"
    finally:
        redis.cleanup()


def test_pubsub_connections_killed(start_worker):
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            for _ in range(3):
                redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
                time.sleep(0.3)

        report = run_fault(start_worker, redis, "CLIENT KILL TYPE pubsub x3", inject)
        assert_accounted(report)
        assert report.recovered_false == 0
    finally:
        redis.cleanup()


def test_every_worker_connection_killed_repeatedly(start_worker):
    """Both connections of every worker drop at once and reconnect on their own back-off: a
    worker's pub/sub connection is often back before its command connection (the catch-up must
    wait and retry), and another worker may publish before this one resubscribed."""
    redis = FaultyRedis(persistent=False).start()
    try:
        def inject():
            with Redis(redis.port) as admin:
                for _ in range(6):
                    admin.call("CLIENT", "KILL", "TYPE", "pubsub")
                    admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                    time.sleep(0.4)

        report = run_fault(start_worker, redis, "all connections killed x6", inject)
        assert_accounted(report)
        assert report.recovered_false == 0
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
