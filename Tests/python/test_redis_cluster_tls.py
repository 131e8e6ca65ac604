"""Echo on a Redis Cluster that speaks only TLS (`rediss+cluster://`), for real: 3 primaries and 3
replicas of Debian's redis-server with `--port 0 --tls-port P --tls-cluster yes --tls-replication
yes` and one certificate (localhost, IP 127.0.0.1) from a throwaway CA (conftest's RedisCluster
with `tls=`).

Every connection of every worker verifies its node's certificate against ECHO_REDIS_CA and the
address the cluster announces for that node (docs/operations.md, "Redis over TLS"): the seeds,
the other primaries learnt from `CLUSTER SHARDS`, and after a failover the promoted replica.
"""
from __future__ import annotations

import pytest

from conftest import RedisCluster, wait_for
from test_redis_cluster import admin_health, joined, move_slot, rooms_on_every_shard, subscriber_clients
from tlsca import TestCA
from wsclient import carries



@pytest.fixture
def tls_cluster(tmp_path):
    cluster = RedisCluster(tls=TestCA(tmp_path / "cluster-ca", name="Echo Redis Cluster Test CA")).start()
    yield cluster
    cluster.stop()


def test_echo_chats_on_every_shard_of_a_tls_cluster_and_follows_a_failover(tls_cluster, start_echo):
    cluster = tls_cluster
    assert cluster.url.startswith("rediss+cluster://127.0.0.1:")
    tls = {"ECHO_REDIS_CA": str(cluster.tls.cert)}
    e1 = start_echo(workers=1, redis_url=cluster.url, **tls)
    e2 = start_echo(workers=1, redis_url=cluster.url, **tls)
    by_primary = rooms_on_every_shard(cluster, per_shard=2)

    pairs = []
    for port, rooms in by_primary.items():
        for r in rooms:
            a, _ = joined(e1.ws_url, r, "alice", action="create")
            b, _ = joined(e2.ws_url, r, "bob")
            a.chat(r, f"hello {r}")
            assert b.next_chat()["text"] == f"hello {r}"
            assert a.next_chat()["text"] == f"hello {r}"
            pairs.append((port, r, a, b))
        # The room's keys are on its shard, and each worker holds one (TLS: the node has no
        # plain port) subscriber connection there.
        assert all(int(cluster.node(port, "CLUSTER", "COUNTKEYSINSLOT", cluster.slot(r))) >= 1 for r in rooms)
        assert len(subscriber_clients(cluster, port)) == 2
    health = admin_health(e1)
    assert health["redis"] == "connected" and health["redisTopology"]["mode"] == "cluster"
    assert health["redisTopology"]["url"].startswith("rediss+cluster://")

    # A slot moved (MIGRATE runs over TLS with --tls-cluster): the next chat meets MOVED, which
    # names the new owner's TLS port, and both workers follow.
    port, r, a, b = next(p for p in pairs if p[0] == sorted(by_primary)[-1])
    target = sorted(by_primary)[1]
    move_slot(cluster, cluster.slot(r), port, target)
    a.chat(r, "moved", clientId="moved-1")
    assert b.recv_until(lambda f: carries(f, "moved"), timeout=10)
    assert a.recv_until(lambda f: carries(f, "moved"), timeout=10)

    # kill -9 of one primary: its replica takes over, and the workers reach it over TLS by the
    # address the cluster announces (it was never a seed).
    victim = sorted(by_primary)[0]
    cluster.kill(victim)
    cluster.wait_ok()
    new_primary = cluster.primary_for(by_primary[victim][0])
    assert new_primary != victim and new_primary not in cluster.ports[:cluster.primary_count]
    # Both processes on the new map first, as test_redis_cluster.py does: a chat during the switch
    # can race the other worker's catch-up (a failover-path issue of its own, not TLS's).
    wait_for(lambda: all(admin_health(e)["redis"] == "connected" for e in (e1, e2)), timeout=15,
             what="both echo processes connected to the promoted replica over TLS")
    for port, r, a, b in pairs:
        if port != victim:
            continue
        # The worker may still be catching up on the new map: retry until a chat goes through.
        def delivered():
            a.chat(r, f"after {r}", clientId=f"after-{r}")
            frame = a.recv_until(lambda f: f.get("type") == "error" or carries(f, f"after {r}"), timeout=5)
            return carries(frame, f"after {r}")
        wait_for(delivered, timeout=20, interval=0.3, what=f"a chat in {r} after the failover")
        assert b.recv_until(lambda f: carries(f, f"after {r}"), timeout=10)
    wait_for(lambda: len(subscriber_clients(cluster, new_primary)) == 2, timeout=10, what="subscribers on the promoted replica")
    for _, _, a, b in pairs:
        a.close()
        b.close()
