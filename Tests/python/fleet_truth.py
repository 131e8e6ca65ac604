"""The chaos fleet's ground truth read from wherever the rooms' streams live (one Redis in a network
namespace, the shards of a cluster), and the figures tests print from the clients' own logs."""
from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from client import id_key  # noqa: E402

# room -> [(entry id, field d)], oldest first
StreamReader = Callable[[str], list[tuple[str, bytes]]]


async def settle(fleet, read_stream: StreamReader, timeout=20.0):
    """Fleet.settle with the streams read by `read_stream`: stop sending, wait until every sender
    is confirmed and every client holds its room's newest id, then add the streams to the truth."""
    for c in fleet.senders:
        c.stop_sending.set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(c.unconfirmed() for c in fleet.senders):
        await asyncio.sleep(0.2)
    while time.monotonic() < deadline:
        try:
            tails = {room: (await asyncio.to_thread(read_stream, room) or [(None, b"")])[-1][0] for room in fleet.rooms}
        except Exception:  # a node not answering yet
            await asyncio.sleep(0.3)
            continue
        if all(tails[c.log.room] is None or (c.log.last_id and id_key(c.log.last_id) >= id_key(tails[c.log.room]))
               for c in fleet.clients):
            break
        await asyncio.sleep(0.2)
    for room in fleet.rooms:
        fleet.truth.add(room, await asyncio.to_thread(read_stream, room))


def percentile_ms(samples: list[float], q: int) -> float | None:
    if len(samples) < 2:
        return None
    return round(statistics.quantiles(samples, n=100)[q - 1] * 1000, 2)


def confirm_latencies(logs, since: float = 0.0, until: float = float("inf")) -> list[float]:
    """Seconds from send to the sender's own copy, for chats confirmed at the first attempt and
    first sent within [since, until) (time.monotonic())."""
    return [p.confirmed_at - p.first_sent for log in logs for p in log.sent.values()
            if p.confirmed_at is not None and p.attempts == 1 and since <= p.first_sent < until]


def longest_silence(logs, start: float, end: float) -> float:
    """The longest any of these senders went without one of its chats confirmed between `start`
    and `end` (time.monotonic(); the edges count as confirmations), in seconds."""
    worst = 0.0
    for log in logs:
        times = sorted(p.confirmed_at for p in log.sent.values() if p.confirmed_at is not None and start < p.confirmed_at < end)
        edges = [start, *times, end]
        worst = max(worst, max(b - a for a, b in zip(edges, edges[1:])))
    return worst
