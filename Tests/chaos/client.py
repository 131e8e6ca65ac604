"""Accounting clients: real WebSocket clients (asyncio) that remember every message id they receive.

Three roles, all speaking docs/protocol.md the way the web client does (web/session.js,
web/connection.js): on any close they reconnect (to the next of their URLs) and `rejoin` with
`since` = the newest id they hold (after 50-1000 ms for a planned close 1001/1012, otherwise a short
back-off), and a `history` with `recovered:false` is remembered as the server's admission of a gap.

- member: joins and stays (it reconnects only when the server closes it);
- resumer: like a member, but hangs up by itself every few seconds and resumes with `since`;
- sender: a member that also sends chat at a steady rate, each with a unique clientId, and sends
  again (same clientId) after UNAVAILABLE, RATE_LIMITED, a reconnect, or 8 s without an answer,
  until the server confirms it (its own message comes back carrying that clientId).

What a client records for checker.py is a list of segments: stretches the server vouches are
gapless. A segment starts at the first join (everything after the history it handed over is owed)
or at a `history` with `recovered:false`, asked for by a resume or sent unasked (owed: everything
from the first message of that history on); it goes on through every resume answered
`recovered:true`, and holds every chat id received, in arrival order.

A retried clientId's stored copy (docs/protocol.md, "Idempotent sends"; ResumePlan.duplicateFloor
on the server) is sent to the sender alone, and only when it is older than the first message of
the last history this connection was handed that was not `recovered:true`: the room delivers nothing
that old. So a chat below that floor carrying one of our clientIds is the answer to a retry, not a
delivery: it confirms the send and is kept apart (`acks`), neither a duplicate nor out of order.
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

RESEND_AFTER_S = 8.0
PLANNED_CLOSES = {1001, 1012}


def id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Segment:
    how: str                  # "join" | "resume-lost" (a resume answered recovered:false) | "resync" (told unasked)
    # join: the newest id its history handed over (owed: everything after it); told: the first id of
    # the told history (owed: from it on). None: the room was empty / the told history was empty.
    start: str | None = None
    ids: list[str] = field(default_factory=list)  # every chat id received in it, in arrival order
    wall: float = 0.0         # time.time() when it began

    @property
    def told(self) -> bool:
        return self.how != "join"


@dataclass
class Pending:
    client_id: str
    first_sent: float
    last_sent: float = 0.0
    attempts: int = 0
    confirmed_id: str | None = None
    confirmed_at: float | None = None


@dataclass
class ClientLog:
    name: str
    room: str
    role: str
    source_ip: str = "127.0.0.1"
    segments: list[Segment] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)  # stored copies answering a retried clientId
    last_id: str | None = None  # the newest id received: what a resume asks `since`
    joins: int = 0  # join replies (history) received: the first join and every resume
    told: int = 0  # histories with recovered:false
    closes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # connect attempts that failed, and why
    connects: int = 0
    sent: dict[str, Pending] = field(default_factory=dict)  # clientId -> state (senders only)
    given_up: list[str] = field(default_factory=list)  # clientIds refused for good

    @property
    def delivered(self) -> int:
        return sum(len(s.ids) for s in self.segments)


class AccountingClient:
    def __init__(self, url: str | list[str], room: str, name: str, role: str = "member", source_ip: str = "127.0.0.1",
                 send_interval: float = 0.5, resume_every: tuple[float, float] = (3.0, 6.0),
                 action: str = "create", max_pending: int = 5, image: str | None = None,
                 keepalive: float | None = None):
        self.urls = [url] if isinstance(url, str) else list(url)
        self.log = ClientLog(name=name, room=room, role=role, source_ip=source_ip)
        self.send_interval = send_interval
        self.resume_every = resume_every
        self.first_action = action
        self.max_pending = max_pending
        self.image = image
        # Seconds between WebSocket pings, and how long a pong may take before the connection is
        # given up (and the client moves on to its next URL): a host whose link is cut sends no FIN
        # or RST. None: no pings (the server's own pings keep the connection alive).
        self.keepalive = keepalive
        self.sending = role == "sender"
        self.stop_sending = asyncio.Event()
        self.stopped = asyncio.Event()
        self.joined = asyncio.Event()
        self.read_delay = 0.0  # a slow reader: this long per frame
        self._seq = 0
        self._attempts = 0
        self._floor: str | None = None  # below it, a chat of ours is a retry's stored copy
        self._ws = None

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self):
        backoff = 0.2
        while not self.stopped.is_set():
            url = self.urls[self._attempts % len(self.urls)]
            self._attempts += 1
            try:
                ws = await self._connect(url)
            except InvalidStatus as e:
                self.log.refused.append(f"HTTP {e.response.status_code}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            except Exception as e:  # refused, reset, timed out
                self.log.refused.append(type(e).__name__)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            self.log.connects += 1
            self._ws = ws
            code = None
            try:
                code = await self._session(ws)
            except Exception:  # the socket died under a send: a close like any other
                code = ws.close_code or 1006
                self.log.closes[code] += 1
            finally:
                self._ws = None
                self._floor = None
                self.joined.clear()
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except Exception:
                    pass
            if code in PLANNED_CLOSES:
                await self._sleep(random.uniform(0.05, 1.0))
                backoff = 0.2
            elif code == "self":
                await self._sleep(random.uniform(0.1, 0.8))
                backoff = 0.2
            else:
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _connect(self, url: str):
        if not self.read_delay:
            return await connect(url, open_timeout=3 * self.keepalive if self.keepalive else 10,
                                 close_timeout=self.keepalive or 2, max_size=64 * 1024 * 1024,
                                 ping_interval=self.keepalive, ping_timeout=self.keepalive, compression=None,
                                 local_addr=(self.log.source_ip, 0))
        # A slow reader: tiny kernel buffers and a one-frame queue, so the server feels it at once.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sock.bind((self.log.source_ip, 0))
        host, port = url.split("//")[1].split("/")[0].split(":")
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, int(port))), 10)
        return await connect(url, sock=sock, open_timeout=10, close_timeout=2, max_size=64 * 1024 * 1024,
                             ping_interval=None, compression=None, max_queue=1)

    async def _sleep(self, s):
        try:
            await asyncio.wait_for(self.stopped.wait(), s)
        except asyncio.TimeoutError:
            pass

    async def _session(self, ws):
        """One connection: join, then read (and send) until it closes. Returns the close code."""
        tasks = [asyncio.create_task(self._reader(ws))]
        await self._safe(self._join(ws))  # if the socket is already gone, the reader says so
        if self.sending:
            tasks.append(asyncio.create_task(self._sender(ws)))
        if self.log.role == "resumer":
            tasks.append(asyncio.create_task(self._hang_up_later(ws)))
        tasks.append(asyncio.create_task(self.stopped.wait()))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in done:
            if t.exception() is None and t.result() is not None:
                return t.result()
        return ws.close_code

    async def _join(self, ws):
        payload = {"roomId": self.log.room, "username": self.log.name,
                   "action": "rejoin" if self.log.segments else self.first_action}
        if self.log.segments and self.log.last_id:
            payload["since"] = self.log.last_id
        await ws.send(json.dumps({"type": "join", "payload": payload}))

    async def _hang_up_later(self, ws):
        await self.joined.wait()
        await asyncio.sleep(random.uniform(*self.resume_every))
        await ws.close(1000)
        return "self"

    async def _reader(self, ws):
        try:
            async for raw in ws:
                self._handle(json.loads(raw))
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
        except ConnectionClosed:
            pass
        except json.JSONDecodeError:
            self.log.errors["NOT_JSON"] += 1
        code = ws.close_code if ws.close_code is not None else 1006
        self.log.closes[code] += 1
        return code

    # -- what arrives -----------------------------------------------------------------------

    def _handle(self, frame: dict):
        kind = frame.get("type")
        if kind == "history":
            self._history(frame)
        elif kind == "error":
            self._error(frame)
        elif kind in ("session", "pong") or frame.get("sender") == "System":
            return
        elif isinstance(frame.get("id"), str):
            self._live(frame)

    def _history(self, frame: dict):
        messages = [m for m in frame.get("messages", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
        ids = [m["id"] for m in messages]
        recovered = frame.get("recovered")
        log = self.log
        if self.joined.is_set():
            # Unasked: only a resync may come (docs/protocol.md, Redis faults).
            if recovered is not False:
                log.errors["UNEXPECTED_HISTORY"] += 1
                return
            self._told("resync", ids)
        else:
            log.joins += 1
            if not log.segments:
                # The first join: what its history handed over is the starting point, not owed.
                log.segments.append(Segment("join", ids[-1] if ids else None, wall=time.time()))
            elif recovered is False:
                self._told("resume-lost", ids)
            else:
                # recovered:true continues the segment; so does a rejoin that had no position to
                # resume from (nothing received yet): its history is all the room holds.
                log.segments[-1].ids.extend(ids)
        for mid in ids:
            self._advance(mid)
        self._floor = None if recovered is True else (ids[0] if ids else None)
        for m in messages:
            self._confirm(m.get("clientId"), m["id"])
        self.joined.set()
        if self.sending:
            self._resend_all()

    def _told(self, how: str, ids: list[str]):
        self.log.told += 1
        self.log.segments.append(Segment(how, ids[0] if ids else None, list(ids), wall=time.time()))

    def _live(self, m: dict):
        mid, cid = m["id"], m.get("clientId")
        if not self.joined.is_set() or not self.log.segments:
            self.log.errors["CHAT_BEFORE_HISTORY"] += 1
            return
        if self._floor is not None and id_key(mid) < id_key(self._floor) and cid in self.log.sent:
            self.log.acks.append(mid)
            self._confirm(cid, mid)
            return
        self.log.segments[-1].ids.append(mid)
        self._advance(mid)
        self._confirm(cid, mid)

    def _advance(self, mid: str):
        if self.log.last_id is None or id_key(mid) > id_key(self.log.last_id):
            self.log.last_id = mid

    def _confirm(self, cid, mid: str):
        pending = self.log.sent.get(cid) if cid else None
        if pending is not None and pending.confirmed_id is None:
            pending.confirmed_id = mid
            pending.confirmed_at = time.monotonic()

    def _error(self, frame: dict):
        code = frame.get("code", "?")
        self.log.errors[code] += 1
        cid = frame.get("clientId")
        if code in ("UNAVAILABLE", "RATE_LIMITED") and cid in self.log.sent:
            delay = max(0.05, min(float(frame.get("retryAfterMs") or 500) / 1000, 5.0))
            asyncio.get_running_loop().call_later(delay, self._resend, cid)
        elif code in ("UNAVAILABLE", "NOT_JOINED", "RATE_LIMITED") and not self.joined.is_set() and cid is None:
            # The join itself was refused: ask again shortly (web/session.js does the same).
            asyncio.get_running_loop().call_later(0.5, self._rejoin_soon)
        elif cid in self.log.sent:
            self.log.given_up.append(cid)

    def _rejoin_soon(self):
        ws = self._ws
        if ws is not None and not self.joined.is_set():
            asyncio.ensure_future(self._safe(self._join(ws)))

    async def _safe(self, coro):
        try:
            await coro
        except Exception:
            pass

    # -- sending ----------------------------------------------------------------------------

    def unconfirmed(self) -> list[Pending]:
        return [p for p in self.log.sent.values() if p.confirmed_id is None and p.client_id not in self.log.given_up]

    async def _sender(self, ws):
        await self.joined.wait()
        while True:
            if not self.stop_sending.is_set() and len(self.unconfirmed()) < self.max_pending:
                self._seq += 1
                cid = f"{self.log.name}-{self._seq}"
                self.log.sent[cid] = Pending(cid, time.monotonic())
                self._resend(cid)
            now = time.monotonic()
            for p in self.unconfirmed():
                if now - p.last_sent > RESEND_AFTER_S:
                    self._resend(p.client_id)
            await asyncio.sleep(self.send_interval * random.uniform(0.8, 1.2))

    def _resend_all(self):
        for p in self.unconfirmed():
            if p.attempts:
                self._resend(p.client_id)

    def _resend(self, cid: str):
        p = self.log.sent.get(cid)
        ws = self._ws
        if p is None or p.confirmed_id is not None or ws is None or not self.joined.is_set():
            return
        p.attempts += 1
        p.last_sent = time.monotonic()
        payload = {"roomId": self.log.room, "clientId": cid, "message": f"{cid} at {time.time():.3f}"}
        if self.image:
            payload["image"] = self.image
        asyncio.ensure_future(self._safe(ws.send(json.dumps({"type": "chat", "payload": payload}))))
