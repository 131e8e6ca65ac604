"""Clients that do not keep up: a slow reader in a busy room, and readers that ask for history full
of images and never read it."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import time

import rawio
from client import AccountingClient
from scenario import Row, Settings, run_fault


def png(nbytes: int) -> str:
    raw = b"\x89PNG\r\n\x1a\n" + os.urandom(nbytes - 8)
    return "data:image/png;base64," + base64.b64encode(raw).decode()


async def slow_consumer(settings: Settings) -> Row:
    limit = 1024 * 1024

    async def inject(ctx):
        room = ctx.fleet.rooms[0]
        busy = AccountingClient(ctx.echo.ws_url, room, "busy-sender", role="sender", send_interval=0.1,
                                action="join", image=png(48 * 1024), max_pending=20)
        slow = AccountingClient(ctx.echo.ws_url, room, "slow-reader", role="member", action="join")
        slow.read_delay = 0.5
        ctx.fleet.clients += [busy, slow]
        ctx.fleet.tasks += [asyncio.create_task(busy.run()), asyncio.create_task(slow.run())]
        await asyncio.wait_for(asyncio.gather(busy.joined.wait(), slow.joined.wait()), 20)
        peak = 0
        end = time.monotonic() + settings.dur(20, 10)
        while time.monotonic() < end:
            peak = max(peak, sum(ctx.echo.rss_bytes().values()))
            await asyncio.sleep(0.5)
        busy.stop_sending.set()
        slow.read_delay = 0  # catch up before the check
        deadline = time.monotonic() + 20
        while not slow.log.closes.get(1008) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        ctx.notes.append(f"slow reader: closes {dict(slow.log.closes)}, {len(slow.log.resumes) - 1} resumes; "
                         f"workers' RSS peak {peak / 2**20:.0f} MiB")
        if not slow.log.closes.get(1008):
            ctx.notes.append("FAIL: the slow reader was never closed with 1008")
            ctx.failures.append("slow reader never closed with 1008")

    return await run_fault("slow-consumer", f"a slow reader (0.5 s per frame) in a room with 48 KiB images at 10/s "
                           f"(ECHO_OUTBOUND_LIMIT={limit})", inject, settings,
                           env={"ECHO_OUTBOUND_LIMIT": str(limit)}, fleet_kwargs={"rooms": 2})


async def history_hoarders(settings: Settings) -> Row:
    images, image_bytes, hoarders, requests = 40, 128 * 1024, 3, 20

    async def inject(ctx):
        room = ctx.fleet.rooms[0]
        filler = AccountingClient(ctx.echo.ws_url, room, "image-filler", role="sender", send_interval=0.05,
                                  action="join", image=png(image_bytes), max_pending=images)
        ctx.fleet.clients.append(filler)
        ctx.fleet.tasks.append(asyncio.create_task(filler.run()))
        deadline = time.monotonic() + 60
        while len([p for p in filler.log.sent.values() if p.confirmed_id]) < images and time.monotonic() < deadline:
            if len(filler.log.sent) >= images:
                filler.stop_sending.set()
            await asyncio.sleep(0.2)
        filler.stop_sending.set()
        base = sum(ctx.echo.rss_bytes().values())
        conns = []
        for i in range(hoarders):
            reader, writer = await rawio.upgrade(ctx.echo.port, rcvbuf=4096)
            writer.write(rawio.text({"type": "join", "payload": {"roomId": room, "username": f"hoarder{i}", "action": "join"}}))
            # History is answered only once joined: wait for the session frame, then never read again.
            seen = b""
            while b'"session"' not in seen:
                seen = seen[-64:] + await asyncio.wait_for(reader.read(4096), 10)
            for _ in range(requests):
                writer.write(rawio.text({"type": "history"}))
            conns.append(writer)
        peak = base
        timeline = []
        end = time.monotonic() + settings.dur(15, 10)
        while time.monotonic() < end:
            rss = sum(ctx.echo.rss_bytes().values())
            timeline.append(rss // 2**20)
            peak = max(peak, rss)
            await asyncio.sleep(0.5)
        ctx.notes.append(f"workers' RSS every 0.5 s (MiB): {timeline}")
        for w in conns:
            w.transport.abort()
        growth = peak - base
        history_frame = images * image_bytes * 4 // 3
        bound = hoarders * int(ctx.echo.env.get("ECHO_OUTBOUND_LIMIT", 16 * 2**20)) + 64 * 2**20
        ctx.notes.append(f"{hoarders} clients × ({requests}+1) histories of {images} images (~{history_frame / 2**20:.1f} MiB each), "
                         f"never read: workers' RSS {base / 2**20:.0f} → peak {peak / 2**20:.0f} MiB "
                         f"(bound {bound / 2**20:.0f} MiB = clients × ECHO_OUTBOUND_LIMIT + 64 MiB)")
        if growth > bound:
            ctx.failures.append(f"worker memory grew {growth / 2**20:.0f} MiB, over the {bound / 2**20:.0f} MiB bound")

    return await run_fault("history-hoard", "clients that ask for a history of images and never read it",
                           inject, settings, fleet_kwargs={"rooms": 2})
