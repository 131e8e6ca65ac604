"""The cluster router goes back to its seeds when every node it knows has moved.

A worker learns the primaries from `CLUSTER SHARDS` and drops its seed connections. If all those
primaries then change address while the worker is not looking (a redeploy that gives every node a
new address; here the worker is stopped with SIGSTOP meanwhile), none of the connections it knows
comes back. The seeds are what an operator keeps pointing at the cluster (a DNS name, a stable
address): here the URL names a first node and a second address nobody listens on yet, and the
first node's new address is that second one. After SIGCONT the worker must find the cluster
through it and chat on every shard.
"""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from conftest import RedisCluster, free_port, wait_for
from test_redis_cluster import admin_health, joined, rooms_on_every_shard


def move_node(cluster: RedisCluster, old: int, new: int):
    """Restarts the node at `old` on port `new` with its own nodes.conf: the same node (id, slots),
    a new address, which the other nodes learn from its pings."""
    cluster.procs[old].terminate()
    cluster.procs.pop(old).wait(5)
    index = cluster.ports.index(old)
    bus = cluster.bus_ports[index]
    node_dir = Path(cluster.dir) / str(old)
    cluster.ports[index] = new
    cluster.procs[new] = subprocess.Popen(
        ["redis-server", "--port", str(new), "--cluster-port", str(bus), "--bind", "127.0.0.1",
         "--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf"),
         "--cluster-node-timeout", str(cluster.node_timeout_ms), "--save", "", "--appendonly", "no",
         "--cluster-require-full-coverage", "no", "--dir", str(node_dir), "--logfile", str(node_dir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: cluster.node(new, "PING") == "PONG", what=f"node moved to {new}")


@pytest.fixture
def small_cluster():
    cluster = RedisCluster(primaries=3, replicas=0, node_timeout_ms=1000).start()
    yield cluster
    cluster.stop()


def test_the_router_finds_the_cluster_through_its_seeds_when_every_known_node_moved(small_cluster, start_worker):
    cluster = small_cluster
    first = cluster.ports[0]
    spare = free_port()
    worker = start_worker(redis_url=f"redis+cluster://127.0.0.1:{first},127.0.0.1:{spare}/")
    by_primary = rooms_on_every_shard(cluster, per_shard=1)
    for r, in by_primary.values():
        a, _ = joined(worker.ws_url, r, "alice", action="create")
        a.chat(r, "before")
        assert a.next_chat()["text"] == "before"
        a.close()
    known = sorted(int(s["primary"].rsplit(":", 1)[1]) for s in admin_health(worker)["redisTopology"]["shards"])
    assert known == sorted(cluster.ports)

    worker.signal(signal.SIGSTOP)
    try:
        moves = {first: spare, **{p: free_port() for p in cluster.ports[1:]}}
        for old, new in moves.items():
            move_node(cluster, old, new)
            # Each node learns the moved one's address before the next one moves.
            wait_for(lambda: all(cluster.node(p, "CLUSTER", "INFO").find("cluster_state:ok") >= 0 for p in cluster.ports)
                     and cluster.primaries() == sorted(cluster.ports),
                     timeout=20, interval=0.2, what=f"the cluster to know {old} moved to {new}")
    finally:
        worker.signal(signal.SIGCONT)
    assert not set(known) & set(cluster.ports), "every primary the worker knew has a new address"

    # None of the connections the worker had comes back; only the seed at `spare` answers.
    wait_for(lambda: admin_health(worker)["redis"] == "connected", timeout=20, what="the worker connected again")
    shards = admin_health(worker)["redisTopology"]["shards"]
    assert sorted(int(s["primary"].rsplit(":", 1)[1]) for s in shards) == sorted(cluster.ports)
    for r, in rooms_on_every_shard(cluster, per_shard=1).values():
        a, _ = joined(worker.ws_url, r, "bob", action="create")
        a.chat(r, "after the move")
        assert a.next_chat(timeout=10)["text"] == "after the move"
        a.close()
    worker.log.flush()
    assert "no known redis cluster node answers; trying the seeds and replicas" in worker.log_path.read_text(errors="replace")
