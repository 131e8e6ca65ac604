"""Clients that account for every chat message, and the checker that holds them to the rule.

The rule: a member either receives every message of its room, in order and once, or is told
(`recovered:false` on a history frame, or a close after which it resumes with `since` and is told
there). Self-contained (websockets and the standard library only) so any test can reuse it:

    clients = [AccountingClient(url, room, f"m{i}") for i in range(4)]
    for c in clients: c.start()
    ...inject a fault...
    settle(clients, rooms, redis_port)                 # senders stop, everyone catches up
    report = check(clients, truth(rooms, redis_port))  # per-client and total figures
    assert report.violations == []

A client keeps a list of segments. A segment starts at a join (after the history it got) or at a
`recovered:false` history, and holds every chat id received after that, in arrival order. The
room's truth is its stream (XRANGE, snapshotted as often as a test likes, merged with every id any
client saw, for messages a Redis restart took away after they were delivered). Each segment must be
exactly the truth after its start: a prefix of it when a later `recovered:false` ended it, all of
it for the last segment.
"""
from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


# ---------------------------------------------------------------------------------------------
# Redis, spoken directly (no dependency): XRANGE snapshots for the truth


class Resp:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def command(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def xrange(port: int, room: str) -> list[tuple[str, dict]]:
    """The room's stream: (id, chat body) oldest first."""
    r = Resp(port)
    try:
        entries = r.command("XRANGE", f"stream:{room}", "-", "+") or []
    finally:
        r.close()
    return [(e[0], json.loads(e[1][1])) for e in entries]


class Truth:
    """Per room: every id the stream ever held (merged snapshots), plus ids clients saw."""

    def __init__(self):
        self.ids: dict[str, set[str]] = {}
        self.bodies: dict[str, dict[str, dict]] = {}

    def snapshot(self, port: int, rooms) -> None:
        for room in rooms:
            for sid, body in xrange(port, room):
                self.ids.setdefault(room, set()).add(sid)
                self.bodies.setdefault(room, {})[sid] = body

    def sequence(self, room: str, clients=()) -> list[str]:
        ids = set(self.ids.get(room, set()))
        for c in clients:
            if c.room == room:
                for seg in c.segments:
                    ids.update(seg.ids)
        return sorted(ids, key=id_key)


# ---------------------------------------------------------------------------------------------
# The client


@dataclass
class Segment:
    start: str | None          # the id the segment continues from (None: from the beginning)
    how: str                   # "join", "resume-lost" (join with since, recovered:false), "resync" (live recovered:false)
    lenient: bool = False      # told: the segment starts at its first id (the told history's first)
    ids: list[str] = field(default_factory=list)
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (local time, server timestamp ms)


class AccountingClient:
    """A room member on its own thread: joins, optionally sends chats (retrying refused ones with
    the same clientId), optionally hangs up now and then, resumes with `since` after every close,
    and records every chat id it receives."""

    def __init__(self, url, room: str, name: str, *, action="join", send_every: float | None = None,
                 disconnect_every: float | None = None, resume=True, urls=None):
        self.urls = urls or [url]
        self.room = room
        self.name = name
        self.action = action
        self.send_every = send_every
        self.disconnect_every = disconnect_every
        self.resume = resume
        self.segments: list[Segment] = []
        self.sent: dict[str, dict] = {}       # clientId -> {"text", "confirmed", "retry_at", "attempts"}
        self.told = 0
        self.reconnects = 0
        self.close_codes: list[int | None] = []
        self.errors: list[dict] = []
        self.sending = send_every is not None
        self.joined = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"acct-{name}", daemon=True)
        self._seq = 0

    # -- control

    def start(self):
        self._thread.start()
        return self

    def stop_sending(self):
        self.sending = False

    def stop(self):
        self._stop.set()
        self._thread.join(15)

    @property
    def last_id(self) -> str | None:
        with self._lock:
            for seg in reversed(self.segments):
                if seg.ids:
                    return seg.ids[-1]
                if seg.start is not None:
                    return seg.start
        return None

    def unconfirmed(self) -> list[str]:
        with self._lock:
            return [cid for cid, s in self.sent.items() if not s["confirmed"]]

    # -- the thread

    def _run(self):
        attempt = 0
        while not self._stop.is_set():
            url = self.urls[(self.reconnects + attempt) % len(self.urls)]
            try:
                ws = connect(url, max_size=16 << 20, open_timeout=5, close_timeout=2)
            except Exception:
                attempt += 1
                time.sleep(min(0.2 * attempt, 1.0))
                continue
            try:
                if self._join(ws):
                    attempt = 0
                    self._serve(ws)
                else:
                    attempt += 1
                    time.sleep(min(0.2 * attempt, 1.0))
            except ConnectionClosed as e:
                self.close_codes.append(e.rcvd.code if e.rcvd else None)
            except (OSError, TimeoutError):
                self.close_codes.append(None)
            finally:
                try:
                    ws.close()
                except Exception:
                    pass
            if self._stop.is_set() or not self.resume:
                return
            self.reconnects += 1
            time.sleep(0.05 + random.random() * 0.2)

    def _join(self, ws) -> bool:
        since = self.last_id if self.segments else None
        payload = {"roomId": self.room, "username": self.name,
                   "action": "rejoin" if self.segments else self.action}
        if since is not None:
            payload["since"] = since
        ws.send(json.dumps({"type": "join", "payload": payload}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if frame.get("type") == "error":
                self.errors.append(frame)
                if frame.get("clientId"):
                    self._refused(frame)
                    continue
                return False
            if frame.get("type") == "history":
                ids = [m["id"] for m in frame.get("messages", []) if "id" in m]
                now = time.time()
                with self._lock:
                    if since is None:
                        self.segments.append(Segment(start=ids[-1] if ids else None, how="join"))
                    elif frame.get("recovered") is True:
                        seg = self.segments[-1]
                        seg.ids.extend(ids)
                        seg.arrivals.extend((now, m.get("timestamp", 0)) for m in frame["messages"])
                    else:
                        self.told += 1
                        self._told(ids, frame["messages"], "resume-lost")
                for m in frame.get("messages", []):
                    self._confirm(m)
                self.joined.set()
                return True
            if frame.get("type") == "chat":
                # Only after the history; a chat before it would be a protocol violation.
                self.errors.append({"unexpected-before-history": frame.get("id")})
        return False

    def _serve(self, ws):
        next_send = time.monotonic() + (random.random() * self.send_every if self.send_every else 0)
        hang_up_at = time.monotonic() + self.disconnect_every * (0.5 + random.random()) if self.disconnect_every else None
        while not self._stop.is_set():
            now = time.monotonic()
            if self.sending and now >= next_send:
                self._send_new(ws)
                next_send = now + self.send_every
            self._send_retries(ws, now)
            if hang_up_at is not None and now >= hang_up_at:
                ws.close()
                self.close_codes.append("client")
                return
            try:
                raw = ws.recv(timeout=0.05)
            except TimeoutError:
                continue
            self._handle(json.loads(raw))

    def _told(self, ids, messages, how):
        # The recent history that came with recovered:false is delivered too; from its first
        # message on, the segment must be gapless.
        now = time.time()
        seg = Segment(start=None, how=how, lenient=True, ids=list(ids))
        seg.arrivals.extend((now, m.get("timestamp", 0)) for m in messages)
        self.segments.append(seg)

    def _send_new(self, ws):
        self._seq += 1
        cid = f"{self.name}-{self._seq}-{uuid.uuid4().hex[:6]}"
        text = f"{self.name} #{self._seq}"
        with self._lock:
            self.sent[cid] = {"text": text, "confirmed": False, "retry_at": None, "attempts": 1}
        ws.send(json.dumps({"type": "chat", "payload": {"roomId": self.room, "message": text, "clientId": cid}}))

    def _send_retries(self, ws, now):
        with self._lock:
            due = [(cid, s) for cid, s in self.sent.items() if not s["confirmed"] and s["retry_at"] and s["retry_at"] <= now]
            for _, s in due:
                s["retry_at"] = None
                s["attempts"] += 1
        for cid, s in due:
            ws.send(json.dumps({"type": "chat", "payload": {"roomId": self.room, "message": s["text"], "clientId": cid}}))

    def _refused(self, frame):
        with self._lock:
            s = self.sent.get(frame["clientId"])
            if s and not s["confirmed"]:
                s["retry_at"] = time.monotonic() + max(0.3, frame.get("retryAfterMs", 0) / 1000)

    def _confirm(self, message):
        cid = message.get("clientId")
        if cid:
            with self._lock:
                s = self.sent.get(cid)
                if s:
                    s["confirmed"] = True

    def _handle(self, frame):
        kind = frame.get("type")
        if kind == "chat":
            with self._lock:
                seg = self.segments[-1]
                seg.ids.append(frame["id"])
                seg.arrivals.append((time.time(), frame.get("timestamp", 0)))
            self._confirm(frame)
        elif kind == "history":
            ids = [m["id"] for m in frame.get("messages", []) if "id" in m]
            if frame.get("recovered") is False:
                with self._lock:
                    self.told += 1
                    self._told(ids, frame["messages"], "resync")
                for m in frame.get("messages", []):
                    self._confirm(m)
            else:
                self.errors.append({"unexpected-history": frame.get("recovered")})
        elif kind == "error":
            self.errors.append(frame)
            if frame.get("clientId") and frame.get("code") in ("UNAVAILABLE", "RATE_LIMITED"):
                self._refused(frame)


# ---------------------------------------------------------------------------------------------
# The checker


@dataclass
class ClientResult:
    name: str
    room: str
    delivered: int
    expected: int
    missing: int         # untold gaps: messages of the room it should have had and never got
    duplicates: int
    out_of_order: int
    told: int
    told_gap: int        # messages it did not get, covered by a recovered:false
    exact: bool


@dataclass
class Report:
    clients: list[ClientResult]
    sent: int
    stored: int
    unconfirmed: int
    stored_twice: int
    refused: int         # chats answered UNAVAILABLE (each retried with its clientId)
    violations: list[str]

    def totals(self) -> dict:
        return {
            "sent": self.sent, "stored": self.stored, "unconfirmed": self.unconfirmed,
            "stored_twice": self.stored_twice, "refused_unavailable": self.refused,
            "delivered": sum(c.delivered for c in self.clients),
            "expected": sum(c.expected for c in self.clients),
            "lost": sum(c.missing for c in self.clients),
            "duplicated": sum(c.duplicates for c in self.clients),
            "out_of_order": sum(c.out_of_order for c in self.clients),
            "told_recovered_false": sum(c.told for c in self.clients),
            "clients_told": sum(1 for c in self.clients if c.told),
            "told_gap": sum(c.told_gap for c in self.clients),
        }


def check(clients, truth: Truth) -> Report:
    results, violations = [], []
    sequences = {c.room: truth.sequence(c.room, clients) for c in clients}
    for c in clients:
        seq = sequences[c.room]
        index = {sid: i for i, sid in enumerate(seq)}
        delivered = expected_total = missing = dups = ooo = told_gap = 0
        exact = True
        segments = list(c.segments)
        for n, seg in enumerate(segments):
            ids = seg.ids
            delivered += len(ids)
            dups += len(ids) - len(set(ids))
            ooo += sum(1 for a, b in zip(ids, ids[1:]) if id_key(b) <= id_key(a))
            if seg.lenient:
                # Told: it continues from the first message it got with or after the telling.
                begin = index[ids[0]] if ids else len(seq)
            elif seg.start is None:
                begin = 0
            else:
                begin = next((i for i, sid in enumerate(seq) if id_key(sid) > id_key(seg.start)), len(seq))
            expected = seq[begin:]
            last = n == len(segments) - 1
            if last:
                want = expected
            else:
                # Ended by a recovered:false: what it got must be a prefix of the truth; the rest is
                # covered by being told.
                upto = (index[ids[-1]] - begin + 1) if ids else 0
                want = expected[:max(upto, 0)]
                nxt = segments[n + 1]
                resumes_at = (index[nxt.ids[0]] if nxt.lenient and nxt.ids else
                              next((i for i, sid in enumerate(seq) if nxt.start is not None and id_key(sid) > id_key(nxt.start)), None))
                if resumes_at is not None:
                    told_gap += max(0, resumes_at - (begin + len(want)))
            expected_total += len(want)
            got = set(ids)
            missing += sum(1 for sid in want if sid not in got)
            if ids != want:
                exact = False
        r = ClientResult(c.name, c.room, delivered, expected_total, missing, dups, ooo, c.told, told_gap, exact)
        results.append(r)
        if not exact:
            violations.append(f"{c.name} in {c.room}: missing {missing}, duplicates {dups}, out of order {ooo}, told {c.told}")
    sent = sum(len(c.sent) for c in clients)
    unconfirmed = sum(len(c.unconfirmed()) for c in clients)
    stored_twice = 0
    for room, bodies in truth.bodies.items():
        seen = {}
        for body in bodies.values():
            cid = body.get("clientId")
            if cid:
                seen[cid] = seen.get(cid, 0) + 1
        stored_twice += sum(n - 1 for n in seen.values() if n > 1)
    stored = sum(len(truth.sequence(room, clients)) for room in {c.room for c in clients})
    refused = sum(1 for c in clients for e in c.errors if e.get("code") == "UNAVAILABLE" and e.get("clientId"))
    return Report(results, sent, stored, unconfirmed, stored_twice, refused, violations)


def recovery_seconds(clients, since: float) -> float | None:
    """How long after `since` (time.time()) the last client received its first message that was
    sent after `since` (by the server's timestamp)."""
    worst = 0.0
    since_ms = since * 1000
    for c in clients:
        firsts = [t for seg in c.segments for (t, ts) in seg.arrivals if ts >= since_ms]
        if not firsts:
            return None
        worst = max(worst, min(firsts) - since)
    return worst


def settle(clients, truth: Truth, redis_port: int, rooms, timeout=20.0) -> None:
    """Stops the senders, waits until every sent message is confirmed and every client holds its
    room's newest message (or the timeout passes), then takes the final snapshot."""
    for c in clients:
        c.stop_sending()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(not c.unconfirmed() for c in clients):
            break
        time.sleep(0.2)
    while time.monotonic() < deadline:
        try:
            newest = {room: (xrange(redis_port, room) or [(None, None)])[-1][0] for room in rooms}
        except (OSError, ConnectionError):
            time.sleep(0.2)
            continue
        if all(c.last_id == newest[c.room] for c in clients):
            break
        time.sleep(0.2)
    time.sleep(0.3)
    truth.snapshot(redis_port, rooms)
