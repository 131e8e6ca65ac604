"""Redis faults: killed and restarted (append-only file kept), frozen, restarted empty."""
from __future__ import annotations

import asyncio
import time

from scenario import Row, Settings, run_fault


async def redis_kill_restart(settings: Settings) -> Row:
    down = 2.0

    async def inject(ctx):
        await asyncio.sleep(settings.dur(5, 2))
        ctx.redis.kill9()
        await asyncio.sleep(down)
        ctx.redis.start()
        ctx.events.append(time.monotonic())
        await asyncio.sleep(settings.dur(10, 5))

    return await run_fault("redis-kill", f"Redis kill -9, restarted after {down:.0f} s (appendonly, fsync always)",
                           inject, settings, appendonly=True)


async def redis_sigstop(settings: Settings) -> Row:
    frozen = settings.dur(8, 4)

    async def inject(ctx):
        await asyncio.sleep(settings.dur(4, 2))
        ctx.redis.sigstop()
        await asyncio.sleep(frozen)
        ctx.redis.sigcont()
        ctx.events.append(time.monotonic())
        await asyncio.sleep(settings.dur(10, 5))

    return await run_fault("redis-stop", f"Redis SIGSTOP for {frozen:.0f} s, then SIGCONT", inject, settings)


async def redis_restart_empty(settings: Settings) -> Row:
    async def inject(ctx):
        await asyncio.sleep(settings.dur(5, 2))
        # The truth before the wipe: writes paused (scripts too), in-flight output flushed, read.
        ctx.redis.call("CLIENT", "PAUSE", "3000", "WRITE")
        await asyncio.sleep(0.3)
        ctx.fleet.snapshot_truth(ctx.redis.port)
        ctx.redis.kill9()
        ctx.redis.wipe()
        ctx.redis.start()
        ctx.events.append(time.monotonic())
        await asyncio.sleep(settings.dur(10, 5))

    return await run_fault("redis-empty", "Redis killed and restarted empty (all history gone)", inject, settings)
