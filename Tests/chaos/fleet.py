"""Steady traffic: a few rooms, each with senders, members that stay and members that resume."""
from __future__ import annotations

import asyncio
import time
import uuid

from checker import Summary, Truth, summarize
from client import AccountingClient, id_key
from resp import xrange_all


class Fleet:
    def __init__(self, url: str, rooms: int = 3, senders: int = 2, members: int = 2, resumers: int = 1,
                 send_interval: float = 0.5, source_ip: str = "127.0.0.1", tag: str = "r"):
        self.url = url
        self.rooms = [f"chaos-{tag}-{uuid.uuid4().hex[:8]}-{i}" for i in range(rooms)]
        self.clients: list[AccountingClient] = []
        for room in self.rooms:
            n = 0
            for role, count in (("sender", senders), ("member", members), ("resumer", resumers)):
                for _ in range(count):
                    n += 1
                    self.clients.append(AccountingClient(url, room, f"{role[0]}{n}-{room[-10:]}", role=role,
                                                         source_ip=source_ip, send_interval=send_interval))
        self.tasks: list[asyncio.Task] = []
        self.truth = Truth()

    @property
    def senders(self):
        return [c for c in self.clients if c.log.role == "sender"]

    async def start(self, join_timeout: float = 30.0):
        # The first client of each room creates it; the others join after it did.
        firsts = {}
        for c in self.clients:
            if c.log.room not in firsts:
                firsts[c.log.room] = c
                self.tasks.append(asyncio.create_task(c.run()))
        await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in firsts.values())), join_timeout)
        for c in self.clients:
            if c not in firsts.values():
                c.first_action = "join"
                self.tasks.append(asyncio.create_task(c.run()))
        await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in self.clients)), join_timeout)

    def snapshot_truth(self, redis_port: int):
        """Reads every room's stream now (before a fault that may wipe it)."""
        for room in self.rooms:
            self.truth.add(room, xrange_all(redis_port, f"stream:{room}"))

    async def stop(self, redis_port: int, settle_timeout: float = 25.0) -> Summary:
        """Stops sending, waits until every pending message is confirmed and every client caught up
        with its room's stream (or the timeout), then stops everyone and checks."""
        for c in self.senders:
            c.stop_sending.set()
        deadline = time.monotonic() + settle_timeout
        while time.monotonic() < deadline and any(c.unconfirmed() for c in self.senders):
            await asyncio.sleep(0.2)
        while time.monotonic() < deadline:
            try:
                tails = {room: _tail(redis_port, room) for room in self.rooms}
            except Exception:
                await asyncio.sleep(0.5)
                continue
            if all(tails[c.log.room] is None or (c.log.last_id and id_key(c.log.last_id) >= id_key(tails[c.log.room]))
                   for c in self.clients):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        for c in self.clients:
            c.stopped.set()
        await asyncio.wait(self.tasks, timeout=10)
        for t in self.tasks:
            t.cancel()
        self.snapshot_truth(redis_port)
        return summarize([c.log for c in self.clients], self.truth)


def _tail(port: int, room: str) -> str | None:
    from resp import Redis
    with Redis(port, timeout=2) as r:
        last = r.call("XREVRANGE", f"stream:{room}", "+", "-", "COUNT", 1)
    return last[0][0].decode() if last else None
