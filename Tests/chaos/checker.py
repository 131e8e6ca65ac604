"""Compares what every client received with its room's stream (the ground truth, from XRANGE).

The rule: a member receives every message of its room, in order and once, or is told
(`recovered:false`). Per client, each segment (client.py) must be exactly the room's sequence from
its start: all of it for the last segment, a prefix of it (up to the newest id received there) for
a segment a `recovered:false` ended; what lies between that prefix and the next segment's start is
excused, admitted missing by the server. A segment told with an empty history (Redis came back
empty) owes every message stored more than a second after it began, and every one from the first
it received. For a sender: every message it saw confirmed is in a stream, and no clientId is stored
twice.
"""
from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from dataclasses import dataclass, field

from client import ClientLog, Segment, id_key
from resp import xrange_all

TOLD_EMPTY_SLACK_MS = 1000


@dataclass
class Truth:
    """Per room: every entry its stream ever held (snapshots merged), oldest first, as (id, clientId)."""
    rooms: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def add(self, room: str, entries: list[tuple[str, bytes]]):
        known = {i for i, _ in self.rooms.get(room, [])}
        merged = list(self.rooms.get(room, []))
        for entry_id, d in entries:
            if entry_id in known:
                continue
            known.add(entry_id)
            try:
                cid = json.loads(d).get("clientId")
            except (ValueError, AttributeError):
                cid = None
            merged.append((entry_id, cid))
        merged.sort(key=lambda e: id_key(e[0]))
        self.rooms[room] = merged

    def snapshot(self, redis_port: int, rooms) -> None:
        """Reads the rooms' streams now (before a fault that may wipe them, and at the end)."""
        for room in rooms:
            self.add(room, xrange_all(redis_port, f"stream:{room}"))

    def add_received(self, logs: list[ClientLog]) -> None:
        """Counts every id some client received as stored: for a fault that wipes Redis between the
        last snapshot and the end (the message existed; it was delivered, then taken away)."""
        for log in logs:
            self.add(log.room, [(i, b"") for seg in log.segments for i in seg.ids])


@dataclass
class ClientVerdict:
    name: str
    lost: list[str] = field(default_factory=list)  # owed, never received, not excused
    duplicated: list[str] = field(default_factory=list)
    out_of_order: int = 0
    phantom: list[str] = field(default_factory=list)  # received, but in no stream
    excused: int = 0  # missed, but covered by recovered:false
    delivered: int = 0
    owed: int = 0
    told: int = 0
    never_joined: bool = False

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.phantom or self.never_joined)

    def describe(self) -> str:
        return (f"{self.name}: delivered {self.delivered}, owed {self.owed}, lost {len(self.lost)}, "
                f"duplicated {len(self.duplicated)}, out of order {self.out_of_order}, phantom {len(self.phantom)}, "
                f"told {self.told}, excused {self.excused}" + (", never joined" if self.never_joined else ""))


@dataclass
class Summary:
    clients: int = 0
    sent: int = 0  # distinct messages the senders tried to send
    confirmed: int = 0
    stored: int = 0  # entries of the clients' rooms (merged snapshots)
    delivered: int = 0
    owed: int = 0
    lost: int = 0  # deliveries missing at a client, plus confirmed messages missing from a stream
    duplicated: int = 0  # deliveries seen twice, plus clientIds stored twice
    out_of_order: int = 0
    phantom: int = 0
    excused: int = 0
    unconfirmed: int = 0  # a sender never got an answer (its message is still pending at the end)
    acks: int = 0  # retries answered with the stored copy
    refused_connects: int = 0
    refused_messages: int = 0  # refused for good with an error code
    closes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    recovered_false: int = 0
    clients_told: int = 0
    resumes: int = 0
    confirmed_missing: list[str] = field(default_factory=list)
    stored_twice: list[str] = field(default_factory=list)
    never_joined: list[str] = field(default_factory=list)
    verdicts: list[ClientVerdict] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.out_of_order == 0 and self.phantom == 0
                and self.unconfirmed == 0 and not self.never_joined)

    @property
    def violations(self) -> list[str]:
        """One line per client that did not get exactly its room's sequence (or was told)."""
        return [v.describe() for v in self.verdicts if not v.exact]

    def figures(self) -> dict:
        return {"sent": self.sent, "confirmed": self.confirmed, "unconfirmed": self.unconfirmed, "acks": self.acks,
                "stored": self.stored, "stored_twice": len(self.stored_twice), "delivered": self.delivered,
                "owed": self.owed, "lost": self.lost, "duplicated": self.duplicated, "out_of_order": self.out_of_order,
                "phantom": self.phantom, "recovered_false": self.recovered_false, "clients_told": self.clients_told,
                "excused": self.excused, "resumes": self.resumes, "refused_connects": self.refused_connects,
                "unavailable": self.errors.get("UNAVAILABLE", 0)}


def _begin(seg: Segment, keys: list[tuple[int, int]], index: dict[str, int]) -> int:
    """Where in the room's sequence the segment's debt starts."""
    if not seg.told:
        return 0 if seg.start is None else bisect.bisect_right(keys, id_key(seg.start))
    if seg.start is not None:
        return bisect.bisect_left(keys, id_key(seg.start))
    # Told with an empty history: the stream was empty when the server read it.
    later = bisect.bisect_right(keys, (int(seg.wall * 1000) + TOLD_EMPTY_SLACK_MS, math.inf))
    first = next((index[i] for i in seg.ids if i in index), len(keys))
    return min(later, first)


def check_client(log: ClientLog, truth: list[tuple[str, str | None]]) -> ClientVerdict:
    v = ClientVerdict(log.name, told=log.told)
    if not log.segments:
        v.never_joined = True
        return v
    seq = [i for i, _ in truth]
    keys = [id_key(i) for i in seq]
    index = {sid: n for n, sid in enumerate(seq)}
    got = {i for seg in log.segments for i in seg.ids} | set(log.acks)
    spans = []
    for n, seg in enumerate(log.segments):
        begin = _begin(seg, keys, index)
        held: set[str] = set()
        newest = None
        for i in seg.ids:
            v.delivered += 1
            if i not in index:
                v.phantom.append(i)
            elif i in held or (not seg.told and index[i] < begin):  # twice, or the join's history had it
                v.duplicated.append(i)
            elif newest is not None and index[i] < newest or index[i] < begin:
                held.add(i)
                v.out_of_order += 1
            else:
                held.add(i)
                newest = index[i]
        last = n == len(log.segments) - 1
        # A segment a recovered:false ended owes a prefix: up to the newest message it received.
        end = len(seq) if last else (newest + 1 if newest is not None else begin)
        owed = seq[begin:end]
        v.owed += len(owed)
        v.lost.extend(i for i in owed if i not in held)
        spans.append((begin, end))
    for (_, end), (begin, _) in zip(spans, spans[1:]):
        v.excused += sum(1 for i in seq[end:begin] if i not in got)
    return v


def summarize(logs: list[ClientLog], truth: Truth) -> Summary:
    s = Summary()
    stored = {room: Counter(cid for _, cid in entries if cid) for room, entries in truth.rooms.items()}
    ids = {room: {i for i, _ in entries} for room, entries in truth.rooms.items()}
    s.stored = sum(len(truth.rooms.get(room, [])) for room in {log.room for log in logs})
    for log in logs:
        s.clients += 1
        v = check_client(log, truth.rooms.get(log.room, []))
        s.verdicts.append(v)
        if v.never_joined:
            s.never_joined.append(log.name)
        s.delivered += v.delivered
        s.owed += v.owed
        s.lost += len(v.lost)
        s.duplicated += len(v.duplicated)
        s.out_of_order += v.out_of_order
        s.phantom += len(v.phantom)
        s.excused += v.excused
        if v.lost and len(s.examples) < 8:
            s.examples.append(f"{log.name} ({log.role}) missed {len(v.lost)}: {v.lost[:3]}")
        if v.duplicated and len(s.examples) < 8:
            s.examples.append(f"{log.name} ({log.role}) got twice {len(v.duplicated)}: {v.duplicated[:3]}")
        if v.out_of_order and len(s.examples) < 8:
            s.examples.append(f"{log.name} ({log.role}) got {v.out_of_order} out of order")
        if v.phantom and len(s.examples) < 8:
            s.examples.append(f"{log.name} got {len(v.phantom)} ids in no stream: {v.phantom[:3]}")
        s.refused_connects += len(log.refused)
        s.closes.update(log.closes)
        s.errors.update(log.errors)
        s.resumes += max(0, log.joins - 1)
        s.recovered_false += log.told
        s.clients_told += 1 if log.told else 0
        s.acks += len(log.acks)
        counts = stored.get(log.room, Counter())
        for cid, p in log.sent.items():
            s.sent += 1
            copies = counts.get(cid, 0)
            if copies > 1:
                s.duplicated += copies - 1
                s.stored_twice.append(cid)
            if p.confirmed_id is not None:
                s.confirmed += 1
                if p.confirmed_id not in ids.get(log.room, ()):
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
    """For each fault event (time.monotonic()): how long until every sender had a message sent
    after it confirmed. The worst over the events; None with no events, inf if some sender never
    recovered."""
    worst = None
    senders = [log for log in logs if log.sent]
    for t in events:
        per_sender = []
        for log in senders:
            after = [p.confirmed_at for p in log.sent.values() if p.first_sent >= t and p.confirmed_at is not None]
            per_sender.append(min(after) - t if after else math.inf)
        if per_sender:
            r = max(per_sender)
            worst = r if worst is None else max(worst, r)
    return worst
