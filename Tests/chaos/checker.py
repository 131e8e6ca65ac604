"""Compares what every client saw with the rooms' streams (the ground truth, from XRANGE).

For a client: every message of its room after its join point must have been received exactly once
and in order, unless a `history` with `recovered:false` admitted the gap it falls in. For a sender:
every message it saw confirmed is in the stream, and no clientId is stored twice.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

from client import ClientLog, id_key


@dataclass
class Truth:
    """Per room: the stream's entries, oldest first, as (id, clientId)."""
    rooms: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def add(self, room: str, entries: list[tuple[str, bytes]]):
        known = {i for i, _ in self.rooms.get(room, [])}
        merged = list(self.rooms.get(room, []))
        for entry_id, d in entries:
            if entry_id in known:
                continue
            try:
                cid = json.loads(d).get("clientId")
            except (ValueError, AttributeError):
                cid = None
            merged.append((entry_id, cid))
        merged.sort(key=lambda e: id_key(e[0]))
        self.rooms[room] = merged


@dataclass
class ClientVerdict:
    name: str
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    out_of_order: int = 0
    phantom: list[str] = field(default_factory=list)  # received, but in no stream
    excused: int = 0  # missed, but covered by recovered:false
    never_joined: bool = False


@dataclass
class Summary:
    clients: int = 0
    sent: int = 0  # distinct messages the senders tried to send
    confirmed: int = 0
    lost: int = 0  # deliveries missing at a client, plus confirmed messages missing from a stream
    duplicated: int = 0  # deliveries seen twice, plus clientIds stored twice
    out_of_order: int = 0
    phantom: int = 0
    excused: int = 0
    unconfirmed: int = 0  # a sender never got an answer (its message is still pending at the end)
    refused_connects: int = 0
    refused_messages: int = 0  # refused for good with an error code
    closes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    recovered_false: int = 0
    resumes: int = 0
    confirmed_missing: list[str] = field(default_factory=list)
    stored_twice: list[str] = field(default_factory=list)
    never_joined: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.out_of_order == 0 and self.phantom == 0
                and self.unconfirmed == 0 and not self.never_joined)


def check_client(log: ClientLog, truth: list[tuple[str, str | None]]) -> ClientVerdict:
    v = ClientVerdict(log.name)
    if log.join_point is None:
        v.never_joined = True
        return v
    truth_ids = [i for i, _ in truth]
    truth_set = set(truth_ids)
    seen: set[str] = set()
    newest: str | None = None
    for mid, how in log.received:
        if how == "ack":
            continue
        if mid in seen:
            if how != "history-unrecovered":
                v.duplicated.append(mid)
            continue
        if newest is not None and id_key(mid) < id_key(newest) and how != "history-unrecovered":
            v.out_of_order += 1
        seen.add(mid)
        if newest is None or id_key(mid) > id_key(newest):
            newest = mid
        if mid not in truth_set:
            v.phantom.append(mid)
    gaps = []
    for r in log.resumes:
        if r.recovered is False and r.since:
            upper = min(r.ids, key=id_key) if r.ids else None
            gaps.append((id_key(r.since), id_key(upper) if upper else None, int(r.wall * 1000) + 1000))
    jp = id_key(log.join_point)
    for mid in truth_ids:
        k = id_key(mid)
        if k <= jp or mid in seen:
            continue
        if any(lo < k and ((hi is not None and k < hi) or (hi is None and k[0] <= wall_ms)) for lo, hi, wall_ms in gaps):
            v.excused += 1
            continue
        v.lost.append(mid)
    return v


def summarize(logs: list[ClientLog], truth: Truth) -> Summary:
    s = Summary()
    stored = {room: Counter(cid for _, cid in entries if cid) for room, entries in truth.rooms.items()}
    for log in logs:
        s.clients += 1
        room_truth = truth.rooms.get(log.room, [])
        v = check_client(log, room_truth)
        if v.never_joined:
            s.never_joined.append(log.name)
        s.lost += len(v.lost)
        s.duplicated += len(v.duplicated)
        s.out_of_order += v.out_of_order
        s.phantom += len(v.phantom)
        s.excused += v.excused
        if v.lost and len(s.examples) < 8:
            s.examples.append(f"{log.name} ({log.role}) missed {len(v.lost)}: {v.lost[:3]}")
        if v.duplicated and len(s.examples) < 8:
            s.examples.append(f"{log.name} ({log.role}) got twice {len(v.duplicated)}: {v.duplicated[:3]}")
        if v.phantom and len(s.examples) < 8:
            s.examples.append(f"{log.name} got {len(v.phantom)} ids in no stream: {v.phantom[:3]}")
        s.refused_connects += len(log.refused)
        s.closes.update(log.closes)
        s.errors.update(log.errors)
        s.resumes += max(0, len(log.resumes) - 1)
        s.recovered_false += sum(1 for r in log.resumes if r.recovered is False)
        counts = stored.get(log.room, Counter())
        for cid, p in log.sent.items():
            s.sent += 1
            copies = counts.get(cid, 0)
            if copies > 1:
                s.duplicated += copies - 1
                s.stored_twice.append(cid)
            if p.confirmed_id is not None:
                s.confirmed += 1
                if copies == 0:
                    s.lost += 1
                    s.confirmed_missing.append(cid)
            elif cid in log.given_up:
                s.refused_messages += 1
            else:
                s.unconfirmed += 1
                if len(s.examples) < 8:
                    s.examples.append(f"{cid} never confirmed ({p.attempts} attempts, stored {copies}x)")
    return s


def recovery_seconds(logs: list[ClientLog], events: list[float]) -> float | None:
    """For each fault event: how long until every sender had a message sent after it confirmed.
    The worst over the events; None with no events, inf if some sender never recovered."""
    worst = None
    senders = [l for l in logs if l.sent]
    for t in events:
        per_sender = []
        for log in senders:
            after = [p.confirmed_at for p in log.sent.values() if p.first_sent >= t and p.confirmed_at is not None]
            per_sender.append(min(after) - t if after else math.inf)
        if per_sender:
            r = max(per_sender)
            worst = r if worst is None else max(worst, r)
    return worst
