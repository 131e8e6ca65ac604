"""Issue 11, S3 over TLS: an idle, joined wss connection costs at most 12 KB of the worker's RSS.

One worker serves TLS; an asyncio websockets client opens joined connections (10 per room) and
leaves them silent. The cost per connection is the RSS slope between two counts, so the worker's
fixed memory does not count. With OpenSSL's SSL object kept per connection this was about 19 KB
(TLS 1.3); a TLS 1.3 server connection now keeps only its two keyed ciphers (about 7.5 KB in all,
plain ws about 4 KB).
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


def test_an_idle_wss_connection_costs_at_most_12_kb(start_worker, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 3 * SECOND)), hard))
    ca = TestCA(tmp_path / "ca")
    leaf = ca.issue("localhost", serial=0x51DE)
    worker = start_worker(wait=False, ECHO_TLS_CERT=str(leaf.chain), ECHO_TLS_KEY=str(leaf.key))
    wait_for(lambda: https_get(worker.port, ca, "/health")[0] == 200, timeout=30, what="https /health")

    slope = asyncio.run(rss_slope(worker, f"wss://localhost:{worker.port}/ws", ca.context()))
    print(f"RSS per idle wss connection: {slope:.0f} B")
    assert slope <= LIMIT_BYTES, f"{slope:.0f} B per idle wss connection (limit {LIMIT_BYTES})"
