"""Steady traffic: a few rooms, each with senders, members that stay and members that resume."""
from __future__ import annotations

import asyncio
import time
import uuid

from checker import Summary, Truth, summarize
from client import AccountingClient, id_key
from resp import Redis


class Fleet:
    """`url` may be a list: a room's clients take them in turn (the k-th starts at url k, and each
    reconnect moves it to the next), so a room spans several workers. The first `quiet_rooms`
    rooms have no resumer: nobody rejoins them unless the server closes it."""

    def __init__(self, url: str | list[str], rooms: int = 3, senders: int = 2, members: int = 2, resumers: int = 1,
                 send_interval: float = 0.5, source_ip: str = "127.0.0.1", tag: str = "r",
                 resume_every: tuple[float, float] = (3.0, 6.0), quiet_rooms: int = 0, max_pending: int = 5,
                 keepalive: float | None = None):
        urls = [url] if isinstance(url, str) else list(url)
        self.rooms = [f"chaos-{tag}-{uuid.uuid4().hex[:8]}-{i}" for i in range(rooms)]
        self.clients: list[AccountingClient] = []
        for r, room in enumerate(self.rooms):
            n = 0
            roles = (("sender", senders), ("member", members), ("resumer", 0 if r < quiet_rooms else resumers))
            for role, count in roles:
                for _ in range(count):
                    turn = n % len(urls)
                    n += 1
                    self.clients.append(AccountingClient(urls[turn:] + urls[:turn], room, f"{role[0]}{n}-{room[-10:]}",
                                                         role=role, source_ip=source_ip, send_interval=send_interval,
                                                         resume_every=resume_every, max_pending=max_pending,
                                                         keepalive=keepalive))
        self.tasks: list[asyncio.Task] = []
        self.truth = Truth()

    @property
    def senders(self):
        return [c for c in self.clients if c.log.role == "sender"]

    @property
    def logs(self):
        return [c.log for c in self.clients]

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
        self.truth.snapshot(redis_port, self.rooms)

    async def settle(self, redis_port: int, timeout: float = 25.0):
        """Stops sending, waits until every pending message is confirmed and every client caught up
        with its room's stream (or the timeout), then reads the streams."""
        for c in self.senders:
            c.stop_sending.set()
        deadline = time.monotonic() + timeout
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
        self.snapshot_truth(redis_port)

    async def close(self):
        for c in self.clients:
            c.stopped.set()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        for t in self.tasks:
            t.cancel()

    def summary(self, received_counts_as_stored: bool = False) -> Summary:
        """The checker's verdict. `received_counts_as_stored`: Redis lost data after the last
        snapshot (see Truth.add_received); off, a received id in no stream is a phantom."""
        if received_counts_as_stored:
            self.truth.add_received(self.logs)
        return summarize(self.logs, self.truth)

    async def stop(self, redis_port: int, settle_timeout: float = 25.0) -> Summary:
        await self.settle(redis_port, settle_timeout)
        await self.close()
        return self.summary()


def _tail(port: int, room: str) -> str | None:
    with Redis(port, timeout=2) as r:
        last = r.call("XREVRANGE", f"stream:{room}", "+", "-", "COUNT", 1)
    return last[0][0].decode() if last else None
