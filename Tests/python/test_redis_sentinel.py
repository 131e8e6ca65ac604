"""Redis Sentinel (issue 12): Echo finds the primary through the Sentinels and follows a failover.

A real Sentinel set on loopback ports: one primary, one replica, three Sentinels (quorum 2,
down-after 1 s, failover-timeout 5 s). `echo --workers 2` runs on `redis+sentinel://…/m` while
accounting clients chat (Tests/chaos: every id each one receives is checked against the room's
stream); the primary is killed with -9. Measured: the time from the kill to the Sentinels' switch
and to the first chat that makes the round trip again, and how many acknowledged messages the
failover lost (replication is asynchronous). The rule checked: every message a client received is
in the new primary's stream, or that client was told `recovered:false` afterwards; no gap, no
duplicate otherwise. Run with `-s` to see the figures.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import free_port, http_get, stop_processes, wait_for
from test_redis_cluster_tls import carries
from wsclient import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from checker import recovery_seconds  # noqa: E402
from fleet import Fleet  # noqa: E402
from resp import Redis  # noqa: E402

NAME = "m"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
FOLLOW_LIMIT_S = (DOWN_AFTER_MS + FAILOVER_TIMEOUT_MS) / 1000 + 2


class SentinelSet:
    """A primary, a replica of it and three Sentinels watching it under NAME, each on a free
    loopback port, in one temporary folder (Sentinels rewrite their config file).

    - `tls` (a tlsca.TestCA): every process listens only on TLS and replicates and watches over
      TLS. The primary and replica certificates carry only IP 127.0.0.1 (the address the
      Sentinels give), the Sentinels' only the name localhost (the URL's host).
    - `password`: the primary's and replica's `requirepass` (the URL's userinfo);
      `sentinel_password`: the Sentinels' own `requirepass` (ECHO_REDIS_SENTINEL_PASSWORD)."""

    def __init__(self, tls=None, password=None, sentinel_password=None):
        self.dir = Path(tempfile.mkdtemp(prefix="echo-sentinel-"))
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.tls = tls
        self.password = password
        self.sentinel_password = sentinel_password
        if tls:
            self.node_leaf = tls.issue("redis", serial=0x5E01, prefix="sentinel-node", names=("IP:127.0.0.1",))
            self.sentinel_leaf = tls.issue("localhost", serial=0x5E02, prefix="sentinel", names=("DNS:localhost",))

    @property
    def url(self):
        scheme = "rediss+sentinel://" if self.tls else "redis+sentinel://"
        host = "localhost" if self.tls else "127.0.0.1"
        auth = f":{self.password}@" if self.password else ""
        return scheme + auth + ",".join(f"{host}:{p}" for p in self.sentinel_ports) + f"/{NAME}"

    def _tls_options(self, leaf, port):
        if not self.tls:
            return [f"port {port}"]
        return ["port 0", f"tls-port {port}", "tls-replication yes", "tls-auth-clients no",
                f"tls-cert-file {leaf.cert}", f"tls-key-file {leaf.key}", f"tls-ca-cert-file {self.tls.cert}"]

    def _redis(self, port, *extra):
        folder = self.dir / str(port)
        folder.mkdir()
        options = self._tls_options(self.node_leaf if self.tls else None, port)
        if self.password:
            options += [f"requirepass {self.password}", f"masterauth {self.password}"]
        args = [f"--{word}" if i == 0 else word for option in options for i, word in enumerate(option.split(" ", 1))]
        self.procs[port] = subprocess.Popen(
            ["redis-server", *args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        self._redis(self.primary_port)
        self._redis(self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
        for port in self.sentinel_ports:
            config = self.dir / f"sentinel-{port}.conf"
            auth = [f"sentinel auth-pass {NAME} {self.password}"] if self.password else []
            if self.sentinel_password:
                # The Sentinels log in to each other with it too.
                auth += [f"requirepass {self.sentinel_password}", f"sentinel sentinel-pass {self.sentinel_password}"]
            config.write_text("\n".join([
                *self._tls_options(self.sentinel_leaf if self.tls else None, port), "bind 127.0.0.1", f"dir {self.dir}",
                f"sentinel monitor {NAME} 127.0.0.1 {self.primary_port} 2",
                f"sentinel down-after-milliseconds {NAME} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {NAME} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {NAME} 1", *auth, ""]))
            self.procs[port] = subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.call(self.replica_port, "INFO", "replication").find(b"master_link_status:up") >= 0,
                 timeout=15, what="the replica in sync")
        # Every Sentinel knows the replica and the two others (hello messages every 2 s).
        for port in self.sentinel_ports:
            wait_for(lambda: len(self.call(port, "SENTINEL", "replicas", NAME)) == 1
                     and len(self.call(port, "SENTINEL", "sentinels", NAME)) == 2,
                     timeout=20, what=f"Sentinel {port} to know the replica and the other Sentinels")
        return self

    def call(self, port, *args):
        with Redis(port, timeout=2) as r:
            if self.tls:
                context = ssl.create_default_context(cafile=str(self.tls.cert))
                context.check_hostname = False  # Echo's checks are under test, not this helper's
                r.sock = context.wrap_socket(r.sock)
            password = self.sentinel_password if port in self.sentinel_ports else self.password
            if password:
                r.call("AUTH", password)
            return r.call(*args)

    def named_primary(self, port=None) -> int | None:
        """The primary's port as a Sentinel names it now."""
        try:
            reply = self.call(port or self.sentinel_ports[0], "SENTINEL", "get-master-addr-by-name", NAME)
        except OSError:
            return None
        return int(reply[1]) if reply else None

    def kill9(self, port):
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(5)

    def cleanup(self):
        stop_processes(self.procs.values())
        shutil.rmtree(self.dir, ignore_errors=True)


def last_id_then_leave(url, room, name) -> str:
    """Joins `room`, waits for one chat and hangs up: the id a resume would ask `since`."""
    c = Client(url)
    try:
        assert c.join(room, name).get("type") == "history"
        return c.next_chat()["id"]
    finally:
        c.close()


def resume(url, room, name, since, timeout=15.0) -> dict:
    """The history frame of a join with `since`, retried while Echo answers with an error."""
    deadline = time.monotonic() + timeout
    while True:
        c = Client(url)
        try:
            history = c.join(room, name, since=since)
        finally:
            c.close()
        if history.get("type") == "history" or time.monotonic() > deadline:
            return history
        time.sleep(0.2)


def admin_health(echo) -> dict:
    status, _, body = http_get(echo.admin_base + "/health", timeout=2)
    return json.loads(body)


class FollowProbe:
    """A member of a room of its own that, once started, sends a chat every 100 ms (new clientId
    each) until one comes back and is in the new primary's stream: the first chat that makes the
    whole round trip on the new primary (an old primary still alive may answer before)."""

    def __init__(self, url):
        self.room = "p" + uuid.uuid4().hex[:10]
        self.client = Client(url)
        history = self.client.join(self.room, "probe", action="create")
        assert history.get("type") == "history", history
        self.url = url

    def first_round_trip(self, new_primary: SentinelSet, port: int, limit_s: float) -> float:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < limit_s:
            n += 1
            try:
                self.client.chat(self.room, f"probe {n}", clientId=f"probe-{n}")
                frame = self.client.recv_until(lambda f: f.get("type") == "error" or "text" in f, timeout=0.1)
                if "text" in frame and str(frame.get("clientId", "")).startswith("probe-"):
                    arrived = time.monotonic()
                    if new_primary.call(port, "XRANGE", f"stream:{self.room}", frame["id"], frame["id"]):
                        return arrived
            except TimeoutError:
                pass
            except Exception:  # the socket died: join again (the room is ours alone)
                time.sleep(0.1)
                try:
                    self.client = Client(self.url)
                    self.client.join(self.room, "probe", action="rejoin")
                except Exception:
                    pass
        raise AssertionError(f"no chat made the round trip within {limit_s}s of the kill")


FAULTS = {
    # The issue's case: the primary dies.
    "kill9": "kill -9 the primary",
    # The replica is 0.5 s behind when the primary dies (its link cut, itself stopped):
    # acknowledged messages are lost, and every client that received one must be told.
    "kill9-replica-behind": "kill -9 the primary 0.5 s after cutting the replica off",
    # The Sentinel whose +switch-master Echo listens to is gone first: the watch moves on.
    "kill9-watched-sentinel-down": "kill -9 the Sentinel Echo watches, then the primary",
    # SENTINEL FAILOVER: the old primary lives on and is demoted; it must take no write after.
    "manual-failover": "SENTINEL FAILOVER (the old primary is demoted, not killed)",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_echo_follows_a_sentinel_failover_and_the_resume_rule_holds(start_echo, fault):
    sentinels = SentinelSet().start()
    try:
        echo = start_echo(workers=2, redis_url=sentinels.url, ECHO_STREAM_MAXLEN="100000")
        old, new = sentinels.primary_port, sentinels.replica_port
        wait_for(lambda: admin_health(echo).get("redisTopology", {}).get("primary") == f"127.0.0.1:{old}", what="/health naming the primary")
        summary, figures = asyncio.run(_failover_under_traffic(echo, sentinels, old, new, fault))
        echo.log.flush()
        log = echo.log_path.read_text(errors="replace")
        assert "redis primary found" in log and "redis primary switched" in log
        # Told by the watch, not found out on a retry.
        assert "via=+switch-master" in log
        if fault == "kill9-watched-sentinel-down":
            assert any("sentinelWatch" in line and "redis reconnected" in line for line in log.splitlines())
        if fault == "kill9-replica-behind":
            assert figures["acked_lost"] > 0, "the replica was behind: some acknowledged message should be lost"
            assert summary.clients_told > 0
        if fault == "manual-failover":
            # Demoted to a replica of the new primary, it lost what it took after the promotion,
            # and no Echo connection went back to it (ROLE is checked on every connection).
            wait_for(lambda: b"role:slave" in sentinels.call(old, "INFO", "replication"), what="the old primary demoted")
            assert b"name=echo-worker" not in sentinels.call(old, "CLIENT", "LIST")
    finally:
        sentinels.cleanup()


async def _failover_under_traffic(echo, sentinels: SentinelSet, old: int, new: int, fault: str):
    fleet = Fleet([echo.ws_url], rooms=3, senders=2, members=2, resumers=1, quiet_rooms=1,
                  send_interval=0.1, resume_every=(1.0, 3.0), max_pending=64, tag="s")
    probe = FollowProbe(echo.ws_url)
    figures = {}
    try:
        await fleet.start(join_timeout=10)
        await asyncio.sleep(2.0)
        # A client that leaves before the failover and resumes after it, from a position that
        # survives (written long before the replica was cut off).
        away_room = fleet.rooms[-1]
        away_since = await asyncio.to_thread(last_id_then_leave, echo.ws_url, away_room, "away")

        asked = sentinels.sentinel_ports[-1]

        def inject():
            switched = threading.Event()

            def watch_switch():
                while not switched.is_set():
                    if sentinels.named_primary(asked) == new:
                        figures["switch_s"] = time.monotonic() - killed
                        switched.set()
                    time.sleep(0.02)

            if fault == "kill9-watched-sentinel-down":
                # Echo's watch starts on the first Sentinel of the URL.
                sentinels.kill9(sentinels.sentinel_ports[0])
                time.sleep(1.0)
            if fault == "kill9-replica-behind":
                # Stopped, the replica cannot reconnect to the primary and catch up before the kill.
                sentinels.procs[new].send_signal(signal.SIGSTOP)
                sentinels.call(old, "CLIENT", "KILL", "TYPE", "replica")
                time.sleep(0.5)
            if fault == "manual-failover":
                sentinels.call(asked, "SENTINEL", "FAILOVER", NAME)
            else:
                sentinels.kill9(old)
            killed = time.monotonic()
            if fault == "kill9-replica-behind":
                sentinels.procs[new].send_signal(signal.SIGCONT)
            figures["killed"] = killed  # for a manual failover: when it was asked for
            watcher = threading.Thread(target=watch_switch, daemon=True)
            watcher.start()
            try:
                if fault == "manual-failover":
                    # The old primary lives and answers until Echo moves: count only chats sent
                    # after the Sentinels switched (before, they may still be replicated).
                    switched.wait(FOLLOW_LIMIT_S)
                figures["follow_s"] = probe.first_round_trip(sentinels, new, FOLLOW_LIMIT_S + 5) - killed
            finally:
                switched.wait(FOLLOW_LIMIT_S + 5)
                switched.set()

        await asyncio.to_thread(inject)
        await asyncio.sleep(3.0)
        # The truth is the new primary's streams alone: what the failover lost must show up.
        await fleet.settle(new, timeout=25)
        summary = fleet.summary()
        acked_lost = figures["acked_lost"] = len(summary.confirmed_missing)
        recovery = recovery_seconds(fleet.logs, [figures["killed"]])
        print(f"\n[{FAULTS[fault]}] switch_s={figures.get('switch_s', float('nan')):.2f} "
              f"follow_s={figures['follow_s']:.2f} every_sender_s={recovery:.2f} acked_lost={acked_lost} "
              + ", ".join(f"{k}={v}" for k, v in summary.figures().items()))
        for v in summary.verdicts:
            if not v.exact or v.told:
                print("  " + v.describe())

        assert figures["follow_s"] <= FOLLOW_LIMIT_S, figures
        # Every id a client received is in the new primary's stream, or (lost to the failover) the
        # client was told recovered:false after receiving it.
        by_name = {c.log.name: c.log for c in fleet.clients}
        for v in summary.verdicts:
            log = by_name[v.name]
            for phantom in v.phantom:
                at = next(n for n, seg in enumerate(log.segments) if phantom in seg.ids)
                assert any(seg.told for seg in log.segments[at + 1:]), \
                    f"{v.name} received {phantom}, which the failover lost, and was never told"
            assert not v.duplicated and not v.out_of_order and not v.never_joined, v.describe()
        # Messages owed to a client are all there: the only loss is acknowledged messages the
        # replica never got.
        assert summary.lost == acked_lost, summary.examples
        assert summary.unconfirmed == 0 and summary.stored_twice == []
        assert summary.delivered > 0

        # The away client is told recovered:false: what came after its position may have been
        # lost with the old primary (with the replica cut off, some was), and the history is the
        # new primary's. Before the failover marker it was told recovered:true.
        away_history = await asyncio.to_thread(resume, echo.ws_url, away_room, "away", away_since)
        assert away_history["recovered"] is False, away_history

        # Chat works after, on the new primary, and /health names it.
        wait_for(lambda: admin_health(echo).get("redisTopology", {}).get("primary") == f"127.0.0.1:{new}", what="/health naming the new primary")
        assert admin_health(echo)["redis"] == "connected"
        c = Client(echo.ws_url)
        try:
            r = "a" + uuid.uuid4().hex[:10]
            c.join(r, "after", action="create")
            c.chat(r, "on the new primary", clientId="after-1")
            assert c.next_chat(timeout=5)["text"] == "on the new primary"
            assert len(sentinels.call(new, "XRANGE", f"stream:{r}", "-", "+")) == 1
        finally:
            c.close()
        return summary, figures
    finally:
        probe.client.close()
        await fleet.close()


def test_a_wrong_primary_name_is_named_in_health_and_the_log(start_echo):
    sentinels = SentinelSet().start()
    try:
        url = sentinels.url.rsplit("/", 1)[0] + "/nosuchprimary"
        echo = start_echo(workers=2, redis_url=url, wait=False)
        asked = ", ".join(f"127.0.0.1:{p}" for p in sentinels.sentinel_ports)
        expected = f'no Sentinel knows a primary named "nosuchprimary" (asked {asked})'

        def told():
            health = admin_health(echo)
            return health.get("status") == "unavailable" and health.get("redisError") == expected and health
        health = wait_for(told, timeout=20, what="/health naming the unknown primary")
        assert "primary" not in health.get("redisTopology", {})
        wait_for(lambda: expected in echo.log_path.read_text(errors="replace"), what="the log naming the unknown primary")
    finally:
        sentinels.cleanup()


class FakeSentinel:
    """Answers like a Sentinel, naming whichever node `names` says (a replica, to see Echo refuse
    it): `SENTINEL get-master-addr-by-name`, `SUBSCRIBE` (no event ever comes) and `PING`."""

    def __init__(self, names: int):
        self.names = names
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.asked = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line.startswith(b"*"):
                    return
                words = []
                for _ in range(int(line[1:])):
                    size = int(reader.readline()[1:])
                    words.append(reader.read(size + 2)[:-2].decode())
                verb = words[0].upper()
                if verb == "SENTINEL":
                    self.asked += 1
                    port = str(self.names)
                    conn.sendall(f"*2\r\n$9\r\n127.0.0.1\r\n${len(port)}\r\n{port}\r\n".encode())
                elif verb == "SUBSCRIBE":
                    conn.sendall(f"*3\r\n$9\r\nsubscribe\r\n${len(words[1])}\r\n{words[1]}\r\n:1\r\n".encode())
                else:
                    conn.sendall(b"+PONG\r\n")
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def close(self):
        self.listener.close()


def test_a_node_that_is_not_the_primary_is_refused_until_the_sentinels_name_the_primary(start_worker):
    """A Sentinel may name a replica (one not promoted yet, a stale Sentinel, or a primary demoted
    meanwhile): it must not take Echo's writes. Echo refuses it and asks again."""
    sentinels = SentinelSet()
    fake = None
    try:
        sentinels._redis(sentinels.primary_port)
        sentinels._redis(sentinels.replica_port, "--replicaof", "127.0.0.1", str(sentinels.primary_port))
        wait_for(lambda: b"master_link_status:up" in sentinels.call(sentinels.replica_port, "INFO", "replication"),
                 what="the replica in sync")
        fake = FakeSentinel(names=sentinels.replica_port)
        worker = start_worker(redis_url=f"redis+sentinel://127.0.0.1:{fake.port}/{NAME}", wait=False)
        expected = f"127.0.0.1:{sentinels.replica_port} is not the primary (ROLE: slave)"
        wait_for(lambda: expected in admin_health(worker).get("redisError", ""), what="/health refusing the replica")
        assert http_get(worker.base + "/health")[0] == 503
        asked = fake.asked
        wait_for(lambda: fake.asked > asked + 1, what="the Sentinel asked again")
        # No write reached the replica (a replica refuses them anyway; Echo never sends one).
        assert b"cmdstat_evalsha" not in sentinels.call(sentinels.replica_port, "INFO", "commandstats")
        fake.names = sentinels.primary_port
        worker.wait_healthy(timeout=15)
        assert admin_health(worker)["redisTopology"]["primary"] == f"127.0.0.1:{sentinels.primary_port}"
    finally:
        if fake:
            fake.close()
        sentinels.cleanup()


def test_a_resume_from_a_message_the_stream_no_longer_holds_is_told(start_worker, redis_server):
    """After a failover the new primary may lack the newest messages that clients received: a
    resume from one of them is not recovered, though older entries are still there (only the
    position's own entry shows that nothing after it went missing)."""
    worker = start_worker()
    r = "l" + uuid.uuid4().hex[:10]
    a = Client(worker.ws_url)
    try:
        a.join(r, "alice", action="create")
        for n in range(3):
            a.chat(r, f"m{n}", clientId=f"m{n}")
        ids = [a.next_chat()["id"] for _ in range(3)]
        # What a replica that missed the last message holds.
        assert redis_server.cli("XDEL", f"stream:{r}", ids[-1]) == "1"
        b = Client(worker.ws_url)
        try:
            history = b.join(r, "alice", action="rejoin", since=ids[-1])
            assert history["recovered"] is False
            assert [m["id"] for m in history["messages"]] == ids[:2]
            # A position still held resumes as before.
            c = Client(worker.ws_url)
            history = c.join(r, "bob", action="rejoin", since=ids[0])
            assert history["recovered"] is True and [m["id"] for m in history["messages"]] == [ids[1]]
            c.close()
        finally:
            b.close()
    finally:
        a.close()


def chat_goes_through(client, r, text, timeout=20):
    """Sends `text` until it comes back (the worker may still be moving to the new primary)."""
    def delivered():
        client.chat(r, text, clientId=text.replace(" ", "-"))
        frame = client.recv_until(lambda f: f.get("type") == "error" or carries(f, text), timeout=3)
        assert carries(frame, text), frame
        return True
    wait_for(delivered, timeout=timeout, interval=0.3, what=f"{text!r} delivered")


def kill_primary_and_follow(sentinels: SentinelSet, worker, client, r):
    """kill -9 of the primary: the worker follows the Sentinels to the replica and chats there."""
    sentinels.kill9(sentinels.primary_port)
    wait_for(lambda: sentinels.named_primary() == sentinels.replica_port, timeout=FOLLOW_LIMIT_S, what="the Sentinels' switch")
    chat_goes_through(client, r, "after the failover")
    new = f"127.0.0.1:{sentinels.replica_port}"
    wait_for(lambda: admin_health(worker)["redisTopology"]["primary"] == new, what="/health naming the new primary")
    assert sentinels.call(sentinels.replica_port, "XLEN", f"stream:{r}") >= 1


def test_echo_follows_a_failover_with_tls_sentinels(start_worker, tmp_path):
    """`rediss+sentinel://`: the Sentinels and both Redis nodes speak only TLS. Each connection
    checks the host it dials: the Sentinels by the URL's name (localhost), the primary by the IP
    the Sentinels give (127.0.0.1); neither certificate carries the other's name."""
    from tlsca import TestCA
    sentinels = SentinelSet(tls=TestCA(tmp_path / "ca", name="Echo Sentinel Test CA")).start()
    try:
        assert sentinels.url.startswith("rediss+sentinel://localhost:")
        worker = start_worker(redis_url=sentinels.url, ECHO_REDIS_CA=str(sentinels.tls.cert))
        assert admin_health(worker)["redisTopology"]["primary"] == f"127.0.0.1:{sentinels.primary_port}"
        r = "t" + uuid.uuid4().hex[:10]
        client = Client(worker.ws_url)
        assert client.join(r, "alice", action="create")["type"] == "history"
        chat_goes_through(client, r, "before the failover")
        kill_primary_and_follow(sentinels, worker, client, r)
        client.close()
    finally:
        sentinels.cleanup()


def test_sentinels_with_a_password_of_their_own(start_worker):
    """Sentinels with `requirepass` are asked with ECHO_REDIS_SENTINEL_PASSWORD; the URL's
    password logs in to the primary. Without the Sentinels' password, /health says why."""
    sentinels = SentinelSet(password="primary-secret", sentinel_password="sentinel-secret").start()
    try:
        refused = start_worker(redis_url=sentinels.url, wait=False)
        error = wait_for(lambda: "NOAUTH" in admin_health(refused).get("redisError", "") and admin_health(refused)["redisError"],
                         timeout=15, what="/health saying the Sentinels want a password")
        port = sentinels.sentinel_ports[0]
        assert error.startswith(f'no Sentinel named the primary "{NAME}": 127.0.0.1:{port}: NOAUTH'), error

        worker = start_worker(redis_url=sentinels.url, ECHO_REDIS_SENTINEL_PASSWORD="sentinel-secret")
        log = worker.logs()
        assert "sentinel-secret" not in log and "primary-secret" not in log
        r = "w" + uuid.uuid4().hex[:10]
        client = Client(worker.ws_url)
        assert client.join(r, "alice", action="create")["type"] == "history"
        chat_goes_through(client, r, "before the failover")
        kill_primary_and_follow(sentinels, worker, client, r)
        # The +switch-master watch logged in to its Sentinel too: it, not a retry, told the worker.
        worker.log.flush()
        assert "via=+switch-master" in worker.log_path.read_text(errors="replace")
        client.close()
    finally:
        sentinels.cleanup()
