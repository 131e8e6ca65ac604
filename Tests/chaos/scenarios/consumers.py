"""Clients that do not keep up: a slow reader in a busy room, and readers that ask for history full
of images and never read it."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid

import rawio
from client import AccountingClient
from harness import http_get
from scenario import Row, Settings, run_fault


def png(nbytes: int) -> str:
    raw = b"\x89PNG\r\n\x1a\n" + os.urandom(nbytes - 8)
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def slow_consumer_closes(ctx) -> int:
    """Slow-consumer closes the whole host made, from the admin listener's metrics."""
    status, body = http_get(f"http://127.0.0.1:{ctx.echo.admin_port}/metrics?format=json")
    return json.loads(body).get("slowConsumerCloses", 0) if status == 200 else 0


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
        # The server cuts a slow reader off: a 1008 close frame, which the reader sees only if it
        # drains what was queued before it within the grace period (2 s); otherwise the server
        # resets the socket (the reader sees 1006). Either way the server counts the close.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not await asyncio.to_thread(slow_consumer_closes, ctx):
            await asyncio.sleep(0.2)
        closes = await asyncio.to_thread(slow_consumer_closes, ctx)
        ctx.notes.append(f"slow reader: closes {dict(slow.log.closes)}, {slow.log.joins - 1} resumes; "
                         f"server's slow-consumer closes {closes}; workers' RSS peak {peak / 2**20:.0f} MiB")
        if not closes:
            ctx.failures.append("the server never cut the slow reader off")
        elif not (slow.log.closes.get(1008) or slow.log.closes.get(1006)):
            ctx.failures.append("the slow reader's connection never ended")

    return await run_fault("slow-consumer", f"a slow reader (0.5 s per frame) in a room with 48 KiB images at 10/s "
                           f"(ECHO_OUTBOUND_LIMIT={limit})", inject, settings,
                           env={"ECHO_OUTBOUND_LIMIT": str(limit)}, fleet_kwargs={"rooms": 2})


async def history_hoarders(settings: Settings) -> Row:
    images, image_bytes, hoarders, requests = 40, 64 * 1024, 4, 19
    limit = 16 * 2**20  # the default
    history_frame = images * image_bytes * 4 // 3
    # What one client may find waiting for it once it reads again: what the outbound limit allows,
    # the frame that crossed it, and the kernel's socket buffers (a few MiB on loopback).
    allowed = limit + history_frame + 8 * 2**20

    async def inject(ctx):
        # A room of its own with no live traffic once filled: nothing but the hoarders' own
        # requests can make the server notice they do not read.
        room = f"chaos-hoard-{uuid.uuid4().hex[:8]}"
        ctx.fleet.rooms.append(room)
        # 5 images a second (~430 KB/s): under ECHO_INBOUND_BYTES_PER_SECOND's default 1 MiB.
        filler = AccountingClient(ctx.echo.ws_url, room, "image-filler", role="sender", send_interval=0.2,
                                  action="create", image=png(image_bytes), max_pending=images)
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
            # History is answered only once joined: wait for the session frame, then stop reading.
            seen = b""
            while b'"session"' not in seen:
                seen = seen[-64:] + await asyncio.wait_for(reader.read(4096), 10)
            conns.append((reader, writer))
        # Every join (a room event each member receives) is over before the first request: only
        # the requests' own replies pile up.
        await asyncio.sleep(1)
        for _, writer in conns:
            for _ in range(requests):
                writer.write(rawio.text({"type": "history"}))
        peak = base
        end = time.monotonic() + settings.dur(12, 8)
        while time.monotonic() < end:
            peak = max(peak, sum(ctx.echo.rss_bytes().values()))
            await asyncio.sleep(0.5)

        async def drain(reader) -> int:
            # Everything the server queued while this client did not read comes out now.
            total = 0
            try:
                while True:
                    chunk = await asyncio.wait_for(reader.read(1 << 20), 5)
                    if not chunk:
                        break
                    total += len(chunk)
            except asyncio.TimeoutError:
                pass
            except OSError:  # reset: the server dropped what it had queued
                pass
            return total

        queued = await asyncio.gather(*(drain(r) for r, _ in conns))
        for _, w in conns:
            w.transport.abort()
        ctx.notes.append(f"{hoarders} clients asked {requests} times for a {history_frame / 2**20:.1f} MiB history and did not read: "
                         f"the server had queued {', '.join(f'{q / 2**20:.0f}' for q in queued)} MiB for them "
                         f"(allowed {allowed / 2**20:.0f} MiB each: ECHO_OUTBOUND_LIMIT + one history + socket buffers); "
                         f"workers' RSS {base / 2**20:.0f} → peak {peak / 2**20:.0f} MiB")
        over = [q for q in queued if q > allowed]
        growth_bound = hoarders * allowed + 64 * 2**20
        if peak - base > growth_bound:
            ctx.failures.append(f"workers grew {(peak - base) / 2**20:.0f} MiB (allowed {growth_bound / 2**20:.0f} MiB)")
        if over:
            ctx.failures.append(f"{len(over)} clients had up to {max(over) / 2**20:.0f} MiB queued (allowed {allowed / 2**20:.0f} MiB)")

    return await run_fault("history-hoard", f"{hoarders} clients that ask {requests} times for a history of {images} images and "
                           f"never read it", inject, settings, fleet_kwargs={"rooms": 2})
