"""`ECHO_REDIS_WAIT_REPLICAS`: every chat is followed by `WAIT N` on its Redis connection.

Against a real primary and replica: with the replica up, chats are confirmed by it (none counted
unreplicated) and the cost is measured against a worker without WAIT on the same Redis; with the
replica gone, chats still go through (stored and delivered; the first ones wait out the WAIT
timeout, then chats stop waiting for a while) and are counted in `echo_chat_unreplicated_total`. Run with `-s` to see the latencies.
"""
from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import time
import uuid

from conftest import RedisServer, free_port, http_get, wait_for
from wsclient import Client


class Replica(RedisServer):
    def __init__(self, primary: RedisServer):
        super().__init__()
        self.primary = primary

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--replicaof", "127.0.0.1", str(self.primary.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: "master_link_status:up" in self.cli("INFO", "replication"), what="replica in sync")
        return self


def unreplicated(worker) -> int:
    _, _, text = http_get(worker.admin_base + "/metrics")
    found = re.search(rb"^echo_chat_unreplicated_total (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def chat_latencies(worker, count: int) -> list[float]:
    """Seconds from each send to the sender's own copy, one chat at a time."""
    room = "w" + uuid.uuid4().hex[:10]
    c = Client(worker.ws_url)
    try:
        assert c.join(room, "alice", action="create")["type"] == "history"
        out = []
        for i in range(count):
            started = time.perf_counter()
            c.chat(room, f"m{i}", clientId=f"c{i}")
            assert c.next_chat()["clientId"] == f"c{i}"
            out.append(time.perf_counter() - started)
        return out
    finally:
        c.close()


def ms(samples, q) -> float:
    return round(statistics.quantiles(samples, n=100)[q - 1] * 1000, 2)


def test_wait_replicas_costs_little_with_a_replica_and_counts_chats_without_one(start_worker):
    primary = RedisServer(free_port()).start()
    replica = Replica(primary).start()
    try:
        plain = start_worker(redis_url=primary.url)
        waiting = start_worker(redis_url=primary.url, ECHO_REDIS_WAIT_REPLICAS="1")
        chat_latencies(plain, 20)  # warm both up
        chat_latencies(waiting, 20)
        without = chat_latencies(plain, 300)
        with_wait = chat_latencies(waiting, 300)
        print(f"\n[WAIT 1, replica up] chat latency p50/p99 without {ms(without, 50)}/{ms(without, 99)} ms, "
              f"with {ms(with_wait, 50)}/{ms(with_wait, 99)} ms")
        # The replica confirmed every one (the counter is published every second or so).
        time.sleep(1.5)
        assert unreplicated(waiting) == 0

        replica.stop()
        wait_for(lambda: "connected_slaves:0" in primary.cli("INFO", "replication"), what="the primary to see the replica gone")
        alone = chat_latencies(waiting, 10)
        print(f"[WAIT 1, replica gone] chat latency {[round(s * 1000, 1) for s in alone]} ms (WAIT timeout 25 ms)")
        # Still stored and delivered. The script publishes as it stores, so a chat reaches the room
        # before its own WAIT is answered; what the WAIT holds is the connection's next command,
        # which waits out the timeout (25 ms). After that shortfall the chats stop waiting for a
        # while (ReplicaWaitPause): the third one may still queue behind the second's WAIT, no later one.
        assert alone[1] >= 0.02, alone
        assert all(s < 0.015 for s in alone[3:]), alone
        wait_for(lambda: unreplicated(waiting) >= 10, timeout=15, what="echo_chat_unreplicated_total to count them")
        # After the pause, a chat waits again (the probe), and falls short again.
        time.sleep(2.2)
        probe = chat_latencies(waiting, 2)
        assert probe[1] >= 0.02, probe
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(replica.dir, ignore_errors=True)
        shutil.rmtree(primary.dir, ignore_errors=True)
