"""Abuse from one address (127.0.0.1) with the per-IP defences at their defaults, while a fleet of
honest clients on 127.0.0.2 must see nothing: slowloris, a connection flood, join-code guessing."""
from __future__ import annotations

import asyncio
import json
import os
import random
import string
import time

import rawio
from scenario import Row, Settings, run_fault

HONEST = {"source_ip": "127.0.0.2", "rooms": 2, "senders": 1, "members": 2, "resumers": 1}
HEADER_TIMEOUT, JOIN_TIMEOUT, MAX_CONNECTIONS, JOINS_PER_MINUTE = 10, 30, 200, 120


async def _watch_close(reader, started: float, closed_at: list, i: int, limit: float):
    try:
        while True:
            data = await asyncio.wait_for(reader.read(4096), limit)
            if not data:
                break
    except (asyncio.TimeoutError, OSError):
        return
    closed_at[i] = time.monotonic() - started


async def slowloris(settings: Settings) -> Row:
    n_http, n_ws = 100, 50

    async def inject(ctx):
        port = ctx.echo.port
        started = time.monotonic()
        writers, watchers = [], []
        http_closed = [None] * n_http
        ws_closed = [None] * n_ws
        observe = JOIN_TIMEOUT + 8 if not settings.quick else JOIN_TIMEOUT + 8
        for i in range(n_http):
            try:
                r, w = await rawio.open_conn(port)
            except OSError:
                continue
            w.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            writers.append(w)
            watchers.append(asyncio.create_task(_watch_close(r, started, http_closed, i, observe)))
        # Paced under ECHO_HANDSHAKES_PER_IP (20/s): this row is about sockets that never join, not
        # about the handshake limit (the flood row is).
        upgraded = 0
        for i in range(n_ws):
            try:
                r, w = await rawio.upgrade(port)
            except Exception:
                ws_closed[i] = "refused"
                continue
            upgraded += 1
            writers.append(w)  # upgraded, never joins
            watchers.append(asyncio.create_task(_watch_close(r, started, ws_closed, i, observe)))
            await asyncio.sleep(1 / 15)
        # Trickle one header byte every 2 s on the HTTP ones, as slowloris does.
        end = started + observe
        while time.monotonic() < end and not (all(c is not None for c in http_closed) and all(c is not None for c in ws_closed)):
            for w in writers[:n_http]:
                if not w.is_closing():
                    try:
                        w.write(random.choice(string.ascii_letters).encode())
                    except Exception:
                        pass
            await asyncio.sleep(2)
        for w in writers:
            w.transport.abort()
        for t in watchers:
            t.cancel()
        h = [c for c in http_closed if c is not None]
        refused_upgrades = sum(1 for c in ws_closed if c == "refused")
        s = [c for c in ws_closed if c is not None and c != "refused"]
        ctx.notes.append(f"{n_http} trickled headers: {len(h)} closed by the server"
                         + (f" after {min(h):.1f}–{max(h):.1f} s" if h else "") + f" (ECHO_HEADER_TIMEOUT={HEADER_TIMEOUT})")
        ctx.notes.append(f"{upgraded} upgraded ({refused_upgrades} refused), never joined: {len(s)} closed by the server"
                         + (f" after {min(s):.1f}–{max(s):.1f} s" if s else "") + f" (ECHO_JOIN_TIMEOUT={JOIN_TIMEOUT})")
        if len(h) < n_http or (h and max(h) > HEADER_TIMEOUT + 5):
            ctx.failures.append(f"{n_http - len(h)} slow headers still open after {observe:.0f} s")
        if refused_upgrades:
            ctx.failures.append(f"{refused_upgrades} paced upgrades refused")
        if len(s) < upgraded or (s and max(s) > JOIN_TIMEOUT + 5):
            ctx.failures.append(f"{upgraded - len(s)} idle WebSockets not closed within ECHO_JOIN_TIMEOUT + 5 s")
        ctx.attacker_saw = (f"{len(h)}/{n_http} slow heads closed" + (f" after ≤ {max(h):.0f} s" if h else "")
                            + f", {len(s)}/{upgraded} idle WebSockets closed" + (f" after ≤ {max(s):.0f} s" if s else ""))
        ctx.attacker_refused = f"{len(h) + len(s)} closed (ECHO_HEADER_TIMEOUT, ECHO_JOIN_TIMEOUT)"

    return await run_fault("slowloris", f"slowloris: {n_http} trickled request heads + {n_ws} idle WebSockets from one address",
                           inject, settings, per_ip_limits=True, fleet_kwargs=HONEST)


async def connection_flood(settings: Settings) -> Row:
    total = 3000 if not settings.quick else 1000

    async def inject(ctx):
        port = ctx.echo.port
        outcomes = {"accepted": 0, "http-refused": 0, "reset/closed": 0, "timeout": 0}
        statuses: dict = {}
        held = []
        sem = asyncio.Semaphore(200)
        peak_open = 0

        give_up_at = time.monotonic() + 60  # a server that stops accepting must not stall the row

        async def one():
            nonlocal peak_open
            async with sem:
                if time.monotonic() > give_up_at:
                    outcomes["timeout"] += 1
                    return
                try:
                    r, w = await rawio.open_conn(port, timeout=5)
                    w.write(rawio.handshake(port))
                    status, _ = await rawio.read_head(r, 5)
                except asyncio.TimeoutError:
                    outcomes["timeout"] += 1
                    return
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    outcomes["reset/closed"] += 1
                    return
                if status == 101:
                    outcomes["accepted"] += 1
                    held.append(w)
                    peak_open = max(peak_open, sum(1 for x in held if not x.is_closing()))
                else:
                    outcomes["http-refused"] += 1
                    statuses[status] = statuses.get(status, 0) + 1
                    w.transport.abort()

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(total)))
        took = time.monotonic() - started
        await asyncio.sleep(3)
        for w in held:
            w.transport.abort()
        ctx.notes.append(f"{total} connections from 127.0.0.1 in {took:.1f} s: {outcomes}, HTTP statuses {statuses}; "
                         f"at most {peak_open} upgraded at once (ECHO_MAX_CONNECTIONS_PER_IP={MAX_CONNECTIONS}, ECHO_HANDSHAKES_PER_IP=20/s)")
        refused = outcomes["http-refused"] + outcomes["reset/closed"] + outcomes["timeout"]
        ctx.attacker_saw = f"{outcomes['accepted']} of {total} upgraded (at most {peak_open} at once), {refused} refused"
        ctx.attacker_refused = f"{refused} (ECHO_MAX_CONNECTIONS_PER_IP, ECHO_HANDSHAKES_PER_IP)"
        if outcomes["accepted"] > MAX_CONNECTIONS + 20 * took + 20:
            ctx.failures.append(f"{outcomes['accepted']} upgrades accepted from one address (limit {MAX_CONNECTIONS} at once, 20/s)")
        if not ctx.echo.alive():
            ctx.failures.append("echo died under the flood")

    return await run_fault("flood", f"{total}-connection flood from one address", inject, settings,
                           per_ip_limits=True, fleet_kwargs=HONEST)


async def join_guessing(settings: Settings) -> Row:
    duration = settings.dur(20, 8)
    conns = 20

    async def inject(ctx):
        port = ctx.echo.port
        counts = {"ROOM_NOT_FOUND": 0, "RATE_LIMITED": 0, "other": 0, "found": 0, "refused connects": 0}
        end = time.monotonic() + duration

        async def guesser():
            while time.monotonic() < end:
                try:
                    r, w = await rawio.upgrade(port)
                except Exception:
                    counts["refused connects"] += 1
                    await asyncio.sleep(0.2)
                    continue
                try:
                    while time.monotonic() < end:
                        code = "".join(random.choices(string.ascii_letters + string.digits, k=6))
                        w.write(rawio.text({"type": "join", "payload": {"roomId": code, "username": "guess", "action": "join"}}))
                        op, payload = await rawio.read_frame(r, 5)
                        if op == 8:
                            break
                        reply = json.loads(payload)
                        c = reply.get("code")
                        if c in counts:
                            counts[c] += 1
                        elif reply.get("type") in ("session", "history"):
                            counts["found"] += 1
                        else:
                            counts["other"] += 1
                        if c == "RATE_LIMITED":
                            await asyncio.sleep(min(float(reply.get("retryAfterMs") or 500) / 1000, 1.0))
                except Exception:
                    pass
                finally:
                    w.transport.abort()

        await asyncio.gather(*(guesser() for _ in range(conns)))
        # A minute's worth as burst, plus 10 % for timing at the edges of the window.
        allowed = (JOINS_PER_MINUTE * duration / 60 + JOINS_PER_MINUTE) * 1.1
        ctx.notes.append(f"{conns} connections guessing codes for {duration:.0f} s: {counts}; answered guesses allowed by "
                         f"ECHO_JOINS_PER_IP={JOINS_PER_MINUTE}/min: ≤ {allowed:.0f}")
        ctx.attacker_saw = f"{counts['ROOM_NOT_FOUND'] + counts['found']} guesses answered, {counts['RATE_LIMITED']} RATE_LIMITED"
        ctx.attacker_refused = f"{counts['RATE_LIMITED']} joins, {counts['refused connects']} connects (ECHO_JOINS_PER_IP, per-connection bucket)"
        if counts["ROOM_NOT_FOUND"] + counts["found"] > allowed:
            ctx.failures.append(f"{counts['ROOM_NOT_FOUND']} guesses answered from one address (≤ {allowed:.0f} allowed)")

    return await run_fault("join-guess", "join-code guessing from one address (20 connections)", inject, settings,
                           per_ip_limits=True, fleet_kwargs=HONEST)
