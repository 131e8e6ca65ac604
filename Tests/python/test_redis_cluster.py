"""Issue 12: Echo on a real Redis Cluster (3 primaries + 3 replicas on loopback ports, started by
the test): rooms spread over every shard with sharded pub/sub, one subscriber connection per
primary per worker, slots that move under a room, and /health naming the topology."""
from __future__ import annotations

import json
import re
import signal
import time
import uuid

from conftest import http_get, wait_for
from wsclient import Client, carries


def room() -> str:
    return "c" + uuid.uuid4().hex[:12]


def joined(url, room_id, name, action="join"):
    c = Client(url)
    history = c.join(room_id, name, action=action)
    assert history.get("type") == "history", history
    return c, history


def rooms_on_every_shard(cluster, per_shard: int) -> dict[int, list[str]]:
    """Room ids, `per_shard` for each primary (a room's keys carry its id as their hash tag)."""
    by_primary: dict[int, list[str]] = {port: [] for port in cluster.primaries()}
    shards = cluster.shards()
    while any(len(v) < per_shard for v in by_primary.values()):
        r = room()
        slot = cluster.slot(r)
        owner = next(s["port"] for s in shards if any(a <= slot <= b for a, b in s["slots"]))
        if len(by_primary[owner]) < per_shard:
            by_primary[owner].append(r)
    return by_primary


def spublish_calls(cluster, port: int) -> int:
    stats = cluster.node(port, "INFO", "commandstats")
    m = re.search(r"cmdstat_spublish:calls=(\d+)", stats)
    return int(m.group(1)) if m else 0


def subscriber_clients(cluster, port: int) -> list[dict]:
    """CLIENT LIST entries named echo-subscriber on one node, as dicts."""
    entries = []
    for line in cluster.node(port, "CLIENT", "LIST").splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("name") == "echo-subscriber":
            entries.append(fields)
    return entries


def admin_health(process) -> dict:
    status, _, body = http_get(process.admin_base + "/health", timeout=2)
    assert status == 200, body
    return json.loads(body)


def test_two_echo_processes_chat_on_every_shard(redis_cluster, start_echo):
    cluster = redis_cluster
    e1 = start_echo(workers=2, redis_url=cluster.url)
    e2 = start_echo(workers=2, redis_url=cluster.url)
    by_primary = rooms_on_every_shard(cluster, per_shard=4)
    before = {port: spublish_calls(cluster, port) for port in by_primary}

    clients = []
    for port, rooms in by_primary.items():
        for r in rooms:
            a, _ = joined(e1.ws_url, r, "alice", action="create")
            b, _ = joined(e2.ws_url, r, "bob")
            a.chat(r, f"hello {r}")
            assert b.next_chat()["text"] == f"hello {r}"
            b.chat(r, f"back {r}")
            assert [a.next_chat()["text"] for _ in range(2)] == [f"hello {r}", f"back {r}"]
            clients += [a, b]

    for port, rooms in by_primary.items():
        # Each room's keys live on the shard that owns its slot, and on no other.
        for r in rooms:
            slot = cluster.slot(r)
            assert int(cluster.node(port, "CLUSTER", "COUNTKEYSINSLOT", slot)) >= 2, (r, port)
            others = [p for p in by_primary if p != port]
            assert all(cluster.node(p, "CLUSTER", "COUNTKEYSINSLOT", slot) == "0" for p in others)
        # Its share of the publishes: 2 joins and 2 chats per room at least, all by SPUBLISH.
        assert spublish_calls(cluster, port) - before[port] >= 4 * len(rooms), port
        # One subscriber connection per worker (2 echo x 2 workers), however many rooms, each
        # holding only the channels of this shard's rooms.
        subs = subscriber_clients(cluster, port)
        assert len(subs) == 4, subs
        assert sum(int(s.get("ssub", 0)) for s in subs) == 2 * len(rooms), subs
        assert all(s.get("sub", "0") == "0" for s in subs)

    health = admin_health(e1)
    topology = health["redisTopology"]
    assert topology["mode"] == "cluster" and health["redis"] == "connected"
    shards = topology["shards"]
    assert len(shards) == 3 and all(s["connected"] and s["subscriberConnected"] for s in shards)
    assert sorted(int(s["primary"].rsplit(":", 1)[1]) for s in shards) == sorted(by_primary)
    assert sum(len(s["slots"].split(",")) for s in shards) >= 3 and "lastRefreshMsAgo" in topology
    for c in clients:
        c.close()


def key_slot(key: str) -> int:
    """Redis Cluster's hash slot (CRC16/XMODEM of the key or its hash tag, mod 16384)."""
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc & 0x3FFF


def room_in_slot(slot: int) -> str:
    while True:
        r = room()
        if key_slot(r) == slot:
            return r


def error_count(cluster, port: int, error: str) -> int:
    m = re.search(rf"errorstat_{error}:count=(\d+)", cluster.node(port, "INFO", "errorstats"))
    return int(m.group(1)) if m else 0


def move_slot(cluster, slot: int, source: int, target: int):
    """Moves one slot and its keys between primaries, as `redis-cli --cluster reshard` does."""
    ids = {s["port"]: s["id"] for s in cluster.shards()}
    assert cluster.node(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source]) == "OK"
    assert cluster.node(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target]) == "OK"
    while True:
        keys = cluster.node(source, "CLUSTER", "GETKEYSINSLOT", slot, 100).split()
        if not keys:
            break
        out = cluster.node(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        assert out == "OK", out
    for port in ids:
        cluster.node(port, "CLUSTER", "SETSLOT", slot, "NODE", ids[target])


def test_a_rooms_slot_moves_and_chat_goes_on(redis_cluster, start_echo):
    cluster = redis_cluster
    e1 = start_echo(workers=1, redis_url=cluster.url)
    e2 = start_echo(workers=1, redis_url=cluster.url)
    r = room()
    source = cluster.primary_for(r)
    target = next(p for p in cluster.primaries() if p != source)
    a, _ = joined(e1.ws_url, r, "alice", action="create")
    b, _ = joined(e2.ws_url, r, "bob")
    sent = []
    for i in range(3):
        a.chat(r, f"before {i}")
        sent.append(b.next_chat()["id"])

    move_slot(cluster, cluster.slot(r), source, target)
    assert cluster.primary_for(r) == target

    # The next chats hit the old owner (MOVED) and the subscriptions were dropped by it
    # (sunsubscribe): both workers follow, and every message arrives once, in order.
    for i in range(3):
        a.chat(r, f"after {i}")
    got = [b.next_chat(timeout=10) for _ in range(3)]
    assert [m["text"] for m in got] == [f"after {i}" for i in range(3)]
    sent += [m["id"] for m in got]
    mine = [a.next_chat(timeout=10)["id"] for _ in range(6)]
    assert mine == sent
    # History moved with the slot; the subscribers now listen on the new owner.
    c, history = joined(e1.ws_url, r, "carol")
    assert [m["id"] for m in history["messages"]] == sent
    wait_for(lambda: sum(int(s.get("ssub", 0)) for s in subscriber_clients(cluster, target)) == 2, what="ssubscribe on the new owner")
    assert sum(int(s.get("ssub", 0)) for s in subscriber_clients(cluster, source)) == 0
    for x in (a, b, c):
        x.close()


def test_a_killed_primary_is_replaced_and_its_rooms_chat_again(redis_cluster, start_echo):
    """kill -9 of one primary: rooms on the other shards keep chatting throughout; once its
    replica took over, the workers follow the new map, the lost shard's members are told
    recovered:false (asynchronous replication may have lost what was acknowledged last: never a
    silent gap), and its rooms chat again, nothing delivered twice."""
    cluster = redis_cluster
    e1 = start_echo(workers=1, redis_url=cluster.url)
    e2 = start_echo(workers=1, redis_url=cluster.url)
    by_primary = rooms_on_every_shard(cluster, per_shard=1)
    victim = sorted(by_primary)[0]
    pairs = {}
    for port, (r,) in by_primary.items():
        a, _ = joined(e1.ws_url, r, "alice", action="create")
        b, _ = joined(e2.ws_url, r, "bob")
        a.chat(r, "before")
        assert b.next_chat()["text"] == "before" and a.next_chat()["text"] == "before"
        pairs[port] = (r, a, b)

    cluster.kill(victim)
    # Degraded, not down: the public /health stays 200 for the shards that serve.
    wait_for(lambda: admin_health(e1)["redis"] == "degraded", timeout=5, what="redis degraded in /health")
    assert http_get(e1.base + "/health")[0] == 200
    # The other shards never stop.
    for port, (r, a, b) in pairs.items():
        if port == victim:
            continue
        a.chat(r, "during")
        assert b.next_chat(timeout=5)["text"] == "during"
        assert a.next_chat(timeout=5)["text"] == "during"

    cluster.wait_ok(timeout=30)
    assert victim not in cluster.primaries()
    wait_for(lambda: admin_health(e1)["redis"] == "connected" and admin_health(e2)["redis"] == "connected",
             timeout=15, what="both echo processes on the new map")
    r, a, b = pairs[victim]
    a.chat(r, "after", clientId="after-1")
    texts, told = [], False
    while "after" not in texts:
        frame = b.recv_until(lambda f: f.get("type") == "history" or "text" in f, timeout=10)
        if frame.get("type") == "history":
            # What the old primary acknowledged last may not have reached the replica: every
            # member of the shard's rooms is told (recovered:false) and gets the history as it is.
            assert frame["recovered"] is False
            told = True
            texts = [m["text"] for m in frame["messages"]]
        else:
            texts.append(frame["text"])
    assert told and texts.count("after") == 1
    health = admin_health(e1)["redisTopology"]
    assert all(s["connected"] and s["subscriberConnected"] for s in health["shards"])
    assert not any(s["primary"].endswith(f":{victim}") for s in health["shards"])


def test_a_chat_right_after_a_failover_reaches_a_member_whose_worker_still_catches_up(redis_cluster, start_echo):
    """The hub tells the failed shard's members (recovered:false) whatever the room's failover
    marker says: here the rooms have no marker (as rooms from before it, or whose record
    expired), and a chat goes out as soon as the cluster is ok, while bob's worker may still be
    catching the room up. bob gets it, live or in the history he is reset to; never a gap."""
    cluster = redis_cluster
    e1 = start_echo(workers=1, redis_url=cluster.url)
    e2 = start_echo(workers=1, redis_url=cluster.url)
    by_primary = rooms_on_every_shard(cluster, per_shard=3)
    victim = sorted(by_primary)[0]
    rooms = by_primary[victim]
    pairs = []
    for r in rooms:
        a, _ = joined(e1.ws_url, r, "alice", action="create")
        b, _ = joined(e2.ws_url, r, "bob")
        a.chat(r, "before")
        assert b.next_chat()["text"] == "before" and a.next_chat()["text"] == "before"
        cluster.cli("DEL", "room:{" + r + "}:primary")
        pairs.append((r, a, b))
    cluster.wait_replicas_in_sync()

    cluster.kill(victim)
    cluster.wait_ok(timeout=30)
    for r, a, b in pairs:
        def stored():
            a.chat(r, f"after {r}", clientId=f"after-{r}")
            frame = a.recv_until(lambda f: f.get("type") == "error" or carries(f, f"after {r}"), timeout=5)
            return carries(frame, f"after {r}")
        wait_for(stored, timeout=20, interval=0.3, what=f"a chat in {r} after the failover")
    for r, a, b in pairs:
        seen = []
        try:
            b.recv_until(lambda f: seen.append(f) or carries(f, f"after {r}"), timeout=15)
        except TimeoutError:
            raise AssertionError(f"bob never got 'after {r}'; he got {seen}") from None
        a.close()
        b.close()



def replica_of(cluster, primary: int) -> int:
    info = cluster.node(primary, "INFO", "replication")
    return int(re.search(r"slave0:ip=[^,]+,port=(\d+)", info).group(1))


def wait_replicated(cluster, primary: int, replica: int) -> None:
    """Until `replica` holds everything `primary` wrote so far (its link up, its offset caught up):
    replication is asynchronous, and a test that cuts the replica off must know what it had."""
    def caught_up() -> bool:
        written = re.search(r"master_repl_offset:(\d+)", cluster.node(primary, "INFO", "replication"))
        seen = cluster.node(replica, "INFO", "replication")
        applied = re.search(r"slave_repl_offset:(\d+)", seen)
        return bool(written and applied and "master_link_status:up" in seen and int(applied.group(1)) >= int(written.group(1)))
    wait_for(caught_up, timeout=10, what=f"replica {replica} caught up with {primary}")


def resume(url, room_id, name, since, timeout=20.0):
    """Joins with `since` until the worker serves the room again (UNAVAILABLE while it follows)."""
    deadline = time.monotonic() + timeout
    while True:
        c = Client(url)
        history = c.join(room_id, name, since=since)
        if history.get("type") == "history":
            return c, history
        c.close()
        assert time.monotonic() < deadline, history
        time.sleep(0.2)


def test_a_client_away_during_a_failover_is_told_what_the_replica_never_got(redis_cluster, start_echo):
    """The silent-gap case: bob leaves after `m1`; `m2` and `m3` are acknowledged while the
    shard's replica is cut off; the primary dies and the replica takes over without them. Bob
    comes back with `since` = m1, which survived: he must be told recovered:false (the failover
    marker, JoinScript), not be handed "everything after m1" without m2 and m3. Alice, connected
    throughout, is told too (failedOver), and a resume from a position written by the new primary
    is trusted again."""
    cluster = redis_cluster
    echo = start_echo(workers=1, redis_url=cluster.url)
    victim = sorted(rooms_on_every_shard(cluster, per_shard=1).items())[0]
    primary, (r,) = victim
    replica = replica_of(cluster, primary)
    alice, _ = joined(echo.ws_url, r, "alice", action="create")
    bob, _ = joined(echo.ws_url, r, "bob")
    alice.chat(r, "m1")
    m1 = bob.next_chat()["id"]
    assert alice.next_chat()["text"] == "m1"
    bob.close()
    wait_replicated(cluster, primary, replica)

    # Cut the replica off: stopped, it cannot reconnect and catch up from the backlog.
    cluster.procs[replica].send_signal(signal.SIGSTOP)
    try:
        cluster.node(primary, "CLIENT", "KILL", "TYPE", "replica")
        for text in ("m2", "m3"):
            alice.chat(r, text)
            assert alice.next_chat()["text"] == text  # acknowledged: stored and published
        time.sleep(0.2)
        cluster.kill(primary)
    finally:
        cluster.procs[replica].send_signal(signal.SIGCONT)
    cluster.wait_ok(timeout=30)
    assert cluster.primary_for(f"stream:{{{r}}}") == replica
    stream = cluster.node(replica, "XRANGE", f"stream:{{{r}}}", "-", "+")
    assert "m1" in stream and "m2" not in stream and "m3" not in stream, "the replica should have missed m2 and m3"

    bob, history = resume(echo.ws_url, r, "bob", since=m1)
    # Without the marker this was recovered:true with no message: m2 and m3 silently gone.
    assert history["recovered"] is False, history
    assert [m["text"] for m in history["messages"] if m.get("sender") != "System"] == ["m1"]

    # Alice was connected: she is told too, then the room chats on the new primary.
    frame = alice.recv_until(lambda f: f.get("type") == "history", timeout=15)
    assert frame["recovered"] is False
    alice.chat(r, "m4")
    m4 = bob.next_chat(timeout=10)
    assert m4["text"] == "m4"
    bob.close()
    # A position the new primary wrote is trusted: nothing after it can have been lost.
    bob, history = resume(echo.ws_url, r, "bob", since=m4["id"])
    assert history["recovered"] is True and history["messages"] == [], history
    alice.close()
    bob.close()


def test_a_slot_mid_migration_answers_ask_and_tryagain(redis_cluster, start_echo):
    """While a room's slot migrates, the source answers ASK for keys it no longer has (the router
    follows with ASKING on the target, no map change) and the target answers TRYAGAIN to a
    script whose keys are not all there yet (Redis 7.0 refuses multi-key commands on an importing
    slot with keys missing): the router retries with bounded back-off, then says UNAVAILABLE and
    the client retries. Nothing is lost or doubled, and both rooms chat on after the migration."""
    cluster = redis_cluster
    e1 = start_echo(workers=1, redis_url=cluster.url)
    e2 = start_echo(workers=1, redis_url=cluster.url)
    r = room()
    slot = key_slot(r)
    assert slot == cluster.slot(r)
    source = cluster.primary_for(r)
    target = next(p for p in cluster.primaries() if p != source)
    a, _ = joined(e1.ws_url, r, "alice", action="create")
    b, _ = joined(e2.ws_url, r, "bob")
    a.chat(r, "before")
    first = b.next_chat()["id"]
    assert a.next_chat()["id"] == first

    ids = {s["port"]: s["id"] for s in cluster.shards()}
    assert cluster.node(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source]) == "OK"
    assert cluster.node(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target]) == "OK"

    # A room created now has none of its keys on the source (ASK), nor yet on the target (TRYAGAIN).
    asks, tries = error_count(cluster, source, "ASK"), error_count(cluster, target, "TRYAGAIN")
    r2 = room_in_slot(slot)
    c = Client(e1.ws_url)
    c.send("join", roomId=r2, username="carol", action="create")
    refused = c.recv_until(lambda f: f.get("type") in ("history", "error"), timeout=10)
    assert refused.get("code") == "UNAVAILABLE", refused
    assert error_count(cluster, source, "ASK") > asks
    # Bounded: 5 tries, each one ASK then TRYAGAIN.
    assert error_count(cluster, target, "TRYAGAIN") - tries == 5

    # The existing room's stream moves first, then the rest: a chat meanwhile is retried by the
    # router (and, if the migration outlasts its back-off, by the client with the same clientId).
    assert cluster.node(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", f"stream:{{{r}}}") == "OK"
    a.chat(r, "during", clientId="during-1")
    move_slot_rest(cluster, slot, source, target, ids)
    frame = a.recv_until(lambda f: f.get("type") == "error" or f.get("text") == "during", timeout=10)
    if frame.get("type") == "error":
        assert frame["code"] == "UNAVAILABLE", frame
        a.chat(r, "during", clientId="during-1")
    assert b.next_chat(timeout=10)["text"] == "during"
    a.chat(r, "after")
    assert b.next_chat(timeout=10)["text"] == "after"
    c, history = joined(e1.ws_url, r2, "carol", action="create")
    c.chat(r2, "new room after")
    assert c.next_chat(timeout=10)["text"] == "new room after"
    d, history = joined(e2.ws_url, r, "dave")
    assert [m["text"] for m in history["messages"]] == ["before", "during", "after"]
    assert history["messages"][0]["id"] == first
    for x in (a, b, c, d):
        x.close()


def move_slot_rest(cluster, slot, source, target, ids):
    while True:
        keys = cluster.node(source, "CLUSTER", "GETKEYSINSLOT", slot, 100).split()
        if not keys:
            break
        assert cluster.node(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys) == "OK"
    for port in ids:
        cluster.node(port, "CLUSTER", "SETSLOT", slot, "NODE", ids[target])


def test_a_busy_rooms_slot_moves_with_no_loss_and_no_duplicate(redis_cluster, start_echo):
    """Slot migration under load: alice chats without pause while her room's slot and keys move
    to another primary. Each chat is retried with its clientId if refused (UNAVAILABLE); bob, on
    another echo process, gets every message once, in order, and so does the history."""
    import threading

    cluster = redis_cluster
    e1 = start_echo(workers=1, redis_url=cluster.url)
    e2 = start_echo(workers=1, redis_url=cluster.url)
    r = room()
    source = cluster.primary_for(r)
    target = next(p for p in cluster.primaries() if p != source)
    a, _ = joined(e1.ws_url, r, "alice", action="create")
    b, _ = joined(e2.ws_url, r, "bob")
    total, retries = 150, []
    started = threading.Event()

    def send_all():
        for i in range(total):
            if i == 30:
                started.set()
            while True:
                a.chat(r, f"m{i}", clientId=f"m{i}")
                frame = a.recv_until(lambda f: f.get("type") == "error" or f.get("text") == f"m{i}", timeout=10)
                if frame.get("type") != "error":
                    break
                assert frame["code"] == "UNAVAILABLE", frame
                retries.append(i)

    sender = threading.Thread(target=send_all)
    sender.start()
    assert started.wait(20)
    move_slot(cluster, cluster.slot(r), source, target)
    sender.join(60)
    assert not sender.is_alive()
    got = [b.next_chat(timeout=10)["text"] for _ in range(total)]
    assert got == [f"m{i}" for i in range(total)]
    b.send("ping")
    extra = b.recv_until(lambda f: f.get("type") == "pong" or "text" in f)
    assert extra.get("type") == "pong", f"duplicate delivered: {extra}"
    assert cluster.primary_for(r) == target
    _, history = joined(e2.ws_url, r, "carol")
    texts = [m["text"] for m in history["messages"]]
    assert texts == [f"m{i}" for i in range(total)][-len(texts):] and len(texts) >= min(total, 50)
    print(f"client retries during the migration: {len(retries)}")
    for x in (a, b):
        x.close()
