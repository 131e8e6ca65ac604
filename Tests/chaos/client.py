"""Accounting clients: real WebSocket clients that remember every message id they saw.

Three roles, all speaking docs/protocol.md the way the web client does (web/app.js,
web/connection.js): on any close they reconnect and `rejoin` with `since` = the last id they saw
(after 50-1000 ms for a planned close 1001/1012, otherwise a short back-off), and a `history`
with `recovered:false` is remembered as the server's admission of a gap.

- member: joins and stays (it reconnects only when the server closes it);
- resumer: like a member, but hangs up by itself every few seconds and resumes with `since`;
- sender: a member that also sends chat at a steady rate, each with a unique clientId, and sends
  again (same clientId) after UNAVAILABLE, RATE_LIMITED, a reconnect, or 8 s without an answer,
  until the server confirms it (its own message comes back carrying that clientId).
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
class Resume:
    """One `history` reply: what was asked (`since`) and what came back."""
    t: float
    wall: float
    since: str | None
    recovered: bool | None
    ids: list[str]


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
    source_ip: str
    received: list[tuple[str, str]] = field(default_factory=list)  # (id, "live"|"history"|"ack")
    join_point: str | None = None  # the newest id of the first history ("0-0" when empty)
    resumes: list[Resume] = field(default_factory=list)
    closes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # connect attempts that failed, and why
    connects: int = 0
    sent: dict[str, Pending] = field(default_factory=dict)  # clientId -> state (senders only)
    retried_client_ids: set = field(default_factory=set)
    given_up: list[str] = field(default_factory=list)  # clientIds refused for good

    @property
    def last_id(self) -> str | None:
        best = None
        for i, _ in self.received:
            if best is None or id_key(i) > id_key(best):
                best = i
        return best


class AccountingClient:
    def __init__(self, url: str, room: str, name: str, role: str = "member", source_ip: str = "127.0.0.1",
                 send_interval: float = 0.5, resume_every: tuple[float, float] = (3.0, 6.0),
                 action: str = "create", max_pending: int = 5, image: str | None = None):
        self.url = url
        self.log = ClientLog(name=name, room=room, role=role, source_ip=source_ip)
        self.send_interval = send_interval
        self.resume_every = resume_every
        self.first_action = action
        self.max_pending = max_pending
        self.image = image
        self.sending = role == "sender"
        self.stop_sending = asyncio.Event()
        self.stopped = asyncio.Event()
        self.joined = asyncio.Event()
        self._seq = 0
        self._last_id: str | None = None
        self._seen: set[str] = set()
        self._first_join_done = False
        self._ws = None
        self.read_delay = 0.0  # a slow reader: this long per frame

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self):
        backoff = 0.2
        while not self.stopped.is_set():
            try:
                ws = await self._connect()
            except InvalidStatus as e:
                self.log.refused.append(f"HTTP {e.response.status_code}")
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            except (OSError, asyncio.TimeoutError, Exception) as e:  # refused, reset, timed out
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

    async def _connect(self):
        if not self.read_delay:
            return await connect(self.url, open_timeout=10, close_timeout=2, max_size=64 * 1024 * 1024,
                                 ping_interval=None, compression=None, local_addr=(self.log.source_ip, 0))
        # A slow reader: tiny kernel buffers and a one-frame queue, so the server feels it at once.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sock.bind((self.log.source_ip, 0))
        host, port = self.url.split("//")[1].split("/")[0].split(":")
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, int(port))), 10)
        return await connect(self.url, sock=sock, open_timeout=10, close_timeout=2, max_size=64 * 1024 * 1024,
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
        if not self._first_join_done:
            action = self.first_action
        else:
            action = "rejoin"
        payload = {"roomId": self.log.room, "username": self.log.name, "action": action}
        if self._first_join_done and self._last_id:
            payload["since"] = self._last_id
        await ws.send(json.dumps({"type": "join", "payload": payload}))
        self._join_since = payload.get("since")

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

    def _handle(self, frame: dict):
        kind = frame.get("type")
        if kind == "session":
            return
        if kind == "history":
            ids = [m["id"] for m in frame.get("messages", []) if isinstance(m, dict) and "id" in m]
            recovered = frame.get("recovered")
            self.log.resumes.append(Resume(time.monotonic(), time.time(), self._join_since, recovered, ids))
            if not self._first_join_done:
                self._first_join_done = True
                self.log.join_point = max(ids, key=id_key) if ids else "0-0"
            how = "history-unrecovered" if recovered is False else "history"
            for m in frame.get("messages", []):
                if isinstance(m, dict):
                    self._chat(m, how)
            self.joined.set()
            if self.sending:
                self._resend_all()
            return
        if kind == "error":
            code = frame.get("code", "?")
            self.log.errors[code] += 1
            cid = frame.get("clientId")
            if code in ("UNAVAILABLE", "RATE_LIMITED") and cid in self.log.sent:
                delay = max(0.05, min(float(frame.get("retryAfterMs") or 500) / 1000, 5.0))
                asyncio.get_running_loop().call_later(delay, self._resend, cid)
            elif code in ("UNAVAILABLE", "NOT_JOINED", "RATE_LIMITED") and not self.joined.is_set() and cid is None:
                # The join itself was refused: ask again shortly (web/app.js does the same).
                asyncio.get_running_loop().call_later(0.5, self._rejoin_soon)
            elif cid in self.log.sent:
                self.log.given_up.append(cid)
            return
        if kind == "pong" or frame.get("sender") == "System":
            return
        if "id" in frame:
            self._chat(frame, "live")

    def _rejoin_soon(self):
        ws = self._ws
        if ws is not None and not self.joined.is_set():
            asyncio.ensure_future(self._safe(self._join(ws)))

    async def _safe(self, coro):
        try:
            await coro
        except Exception:
            pass

    def _chat(self, m: dict, how: str):
        mid = m.get("id")
        if not isinstance(mid, str):
            return
        cid = m.get("clientId")
        pending = self.log.sent.get(cid) if cid else None
        if pending is not None and pending.confirmed_id is not None and mid == pending.confirmed_id and mid in self._seen \
                and cid in self.log.retried_client_ids:
            # The server answers a retried clientId with the stored copy, to this sender only.
            self.log.received.append((mid, "ack"))
            return
        self.log.received.append((mid, how))
        self._seen.add(mid)
        if self._last_id is None or id_key(mid) > id_key(self._last_id):
            self._last_id = mid
        if pending is not None and pending.confirmed_id is None:
            pending.confirmed_id = mid
            pending.confirmed_at = time.monotonic()

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
        if p.attempts:
            self.log.retried_client_ids.add(cid)
        p.attempts += 1
        p.last_sent = time.monotonic()
        payload = {"roomId": self.log.room, "clientId": cid, "message": f"{cid} at {time.time():.3f}"}
        if self.image:
            payload["image"] = self.image
        asyncio.ensure_future(self._safe(ws.send(json.dumps({"type": "chat", "payload": payload}))))
