"""Worker faults: kill -9 loops, rolling reloads, adding and removing workers."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import time

from scenario import Row, Settings, run_fault


async def worker_kill_loop(settings: Settings) -> Row:
    duration = settings.dur(30, 10)

    async def inject(ctx):
        kills = 0
        end = time.monotonic() + duration
        while time.monotonic() < end:
            pids = ctx.echo.worker_pids()
            if pids:
                os.kill(random.choice(pids), signal.SIGKILL)
                kills += 1
                ctx.events.append(time.monotonic())
            await asyncio.sleep(2)
        ctx.notes.append(f"{kills} workers killed")

    return await run_fault("worker-kill", f"kill -9 of a random worker every 2 s for {duration:.0f} s", inject, settings)


async def sighup_loop(settings: Settings) -> Row:
    duration = settings.dur(30, 12)

    async def inject(ctx):
        n = 0
        end = time.monotonic() + duration
        while time.monotonic() < end:
            ctx.echo.signal(signal.SIGHUP)
            n += 1
            ctx.events.append(time.monotonic())
            await asyncio.sleep(4)
        ctx.notes.append(f"{n} SIGHUPs")

    return await run_fault("sighup", f"SIGHUP (rolling reload) every 4 s for {duration:.0f} s", inject, settings)


def tcp_migrate_req() -> str:
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
            return f.read().strip()
    except OSError:
        return "?"


async def ttin_ttou_churn(settings: Settings) -> Row:
    duration = settings.dur(30, 12)

    async def inject(ctx):
        n = 0
        end = time.monotonic() + duration
        grow = True
        while time.monotonic() < end:
            ctx.echo.signal(signal.SIGTTIN if grow else signal.SIGTTOU)
            grow = not grow
            n += 1
            ctx.events.append(time.monotonic())
            await asyncio.sleep(3)
        if not grow:  # back to two workers
            ctx.echo.signal(signal.SIGTTOU)
        ctx.notes.append(f"{n} SIGTTIN/SIGTTOU, alternating (2 ↔ 3 workers)")
        migrate = tcp_migrate_req()
        ctx.notes.append(f"net.ipv4.tcp_migrate_req={migrate}")
        if migrate == "0":
            # docs/operations.md: closing a SO_REUSEPORT socket resets what is queued on it.
            ctx.refusals_explained_by = "queued on a removed slot's socket: net.ipv4.tcp_migrate_req=0, docs/operations.md"

    return await run_fault("ttin-ttou", f"SIGTTIN/SIGTTOU churn every 3 s for {duration:.0f} s", inject, settings)
