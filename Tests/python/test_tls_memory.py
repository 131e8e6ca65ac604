"""`ECHO_TLS_RECORDS=compact`: an idle, joined TLS 1.3 connection no longer holds OpenSSL's SSL object.

One worker serves TLS; an asyncio websockets client opens joined connections (10 per room) and
leaves them silent. The cost per connection is the RSS slope between two counts, so the worker's
fixed memory does not count. With OpenSSL's record layer (the default) the SSL object stays for the
connection's life: about 19 KB per connection. With compact records the connection keeps only its
two keyed ciphers: about 7.5 KB in all (plain ws about 4 KB). The figures for `make bench` are in
BENCHMARKS.md (S3-tls); this test checks that the mechanism works end to end, in both modes.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource

from websockets.asyncio.client import connect

from conftest import wait_for
from test_tls import https_get, rss_kb
from tlsca import TestCA

FIRST, SECOND = 500, 2000
LIMIT_BYTES = 12 * 1024


async def open_joined(url, context, first: int, count: int, held: list):
    """Opens connections first..<first+count, each joined to room i // 10 and answered."""
    gate = asyncio.Semaphore(32)

    async def one(i):
        async with gate:
            ws = await connect(url, ssl=context, open_timeout=30, ping_interval=None, compression=None)
            await ws.send(json.dumps({"type": "join", "payload": {
                "roomId": f"idle-{os.getpid()}-{i // 10:05d}", "username": f"u{i}", "action": "create"}}))
            async with asyncio.timeout(30):
                while (frame := json.loads(await ws.recv())).get("type") not in ("history", "error"):
                    pass
            assert frame["type"] == "history", frame
            held.append(ws)

    await asyncio.gather(*(one(i) for i in range(first, first + count)))


async def rss_slope(worker, url, context) -> float:
    held = []
    try:
        await open_joined(url, context, 0, FIRST, held)
        await asyncio.sleep(1)
        before = rss_kb(worker.proc.pid)
        await open_joined(url, context, FIRST, SECOND - FIRST, held)
        await asyncio.sleep(1)
        after = rss_kb(worker.proc.pid)
        return (after - before) * 1024 / (SECOND - FIRST)
    finally:
        for ws in held:
            ws.transport.abort()


def measure(start_worker, tmp_path, records: str) -> float:
    ca = TestCA(tmp_path / f"ca-{records}")
    leaf = ca.issue("localhost", serial=0x51DE)
    worker = start_worker(wait=False, ECHO_TLS_CERT=str(leaf.chain), ECHO_TLS_KEY=str(leaf.key), ECHO_TLS_RECORDS=records)
    wait_for(lambda: https_get(worker.port, ca, "/health")[0] == 200, timeout=30, what="https /health")
    slope = asyncio.run(rss_slope(worker, f"wss://localhost:{worker.port}/ws", ca.context()))
    worker.stop()
    print(f"RSS per idle wss connection, ECHO_TLS_RECORDS={records}: {slope:.0f} B")
    return slope


def test_compact_records_release_openssls_state_of_an_idle_connection(start_worker, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 3 * SECOND)), hard))
    openssl = measure(start_worker, tmp_path, "openssl")
    compact = measure(start_worker, tmp_path, "compact")
    assert compact <= LIMIT_BYTES, f"{compact:.0f} B per idle wss connection with compact records (limit {LIMIT_BYTES})"
    # The SSL object alone is 7.6 KB: the difference shows it was freed.
    assert openssl - compact >= 6 * 1024, f"openssl {openssl:.0f} B, compact {compact:.0f} B"
