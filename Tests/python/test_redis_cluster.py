"""Issue 12: Echo on a real Redis Cluster (3 primaries + 3 replicas on loopback ports, started by
the test): rooms spread over every shard with sharded pub/sub, one subscriber connection per
primary per worker, slots that move under a room, and /health naming the topology."""
from __future__ import annotations

import json
import re
import uuid

from conftest import http_get, wait_for
from wsclient import Client


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
