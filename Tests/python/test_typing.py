"""Issue 13: feature negotiation (`features` in the join, answered in `session`) and typing
indicators, against a real redis-server (or the Redis Cluster `make test` starts) and two real
echo-worker processes: the members of one room sit on different workers, so every typing frame
crosses Redis pub/sub."""
from __future__ import annotations

import time
import uuid

import pytest

from wsclient import Client, frames_until_chat, join_announcing

TODAYS_SESSION_FIELDS = {"type", "sessionId", "roomId", "username", "limits"}


def room() -> str:
    return "y" + uuid.uuid4().hex[:12]


def join(url, room_id, name, action="join", features=None, since=None):
    """Joins; returns the client, its session frame and its history frame."""
    return join_announcing(url, room_id, name, action, features=features, since=since)


def typings(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f.get("type") == "typing"]


def test_typing_reaches_featured_members_on_the_other_worker_only(workers):
    w1, w2 = workers
    r = room()
    alice, session, _ = join(w1.ws_url, r, "alice", action="create", features=["typing", "react", "future-thing"])
    assert session["features"] == ["typing", "react"]
    bob, _, _ = join(w2.ws_url, r, "bob", features=["typing"])  # other worker, asked
    old, old_session, _ = join(w2.ws_url, r, "carol")  # other worker, an Echo Chat client
    assert set(old_session) == TODAYS_SESSION_FIELDS
    none, none_session, _ = join(w1.ws_url, r, "dan", features=[])  # alice's worker, asked for nothing known
    assert none_session["features"] == []

    alice.send("typing")
    alice.chat(r, "after typing")
    got = typings(frames_until_chat(bob, "after typing"))
    assert got == [{"type": "typing", "sessionId": alice.session_id, "username": "alice"}]
    assert typings(frames_until_chat(old, "after typing")) == []
    assert typings(frames_until_chat(none, "after typing")) == []
    assert typings(frames_until_chat(alice, "after typing")) == []  # never one's own

    # The other way round, and a member of another room hears nothing.
    elsewhere, _, _ = join(w1.ws_url, room(), "eve", action="create", features=["typing"])
    bob.send("typing")
    bob.chat(r, "bob typed")
    assert typings(frames_until_chat(alice, "bob typed")) == [{"type": "typing", "sessionId": bob.session_id, "username": "bob"}]
    elsewhere.send("ping")
    assert elsewhere.recv_until(lambda f: f.get("type") in ("pong", "typing"))["type"] == "pong"


def test_typing_is_not_stored_nor_replayed(workers):
    w1, w2 = workers
    r = room()
    alice, _, _ = join(w1.ws_url, r, "alice", action="create", features=["typing"])
    bob, _, _ = join(w2.ws_url, r, "bob", features=["typing"])
    alice.chat(r, "first")
    first = alice.next_chat()
    bob.next_chat()
    bob.close()  # away: comes back with since=first
    alice.send("typing")
    alice.chat(r, "second")
    frames_until_chat(alice, "second")

    later, _, history = join(w2.ws_url, r, "carol", features=["typing"])
    assert [m.get("type") for m in history["messages"]] == ["chat", "chat"]
    assert [m["text"] for m in history["messages"]] == ["first", "second"]
    _, _, resumed = join(w1.ws_url, r, "bob", action="rejoin", features=["typing"], since=first["id"])
    assert resumed["recovered"] is True
    assert [(m["type"], m["text"]) for m in resumed["messages"]] == [("chat", "second")]
    later.send("history")
    asked = later.recv_until(lambda f: f.get("type") == "history")
    assert all(m["type"] == "chat" for m in asked["messages"])


def test_more_than_one_typing_in_two_seconds_is_dropped(workers):
    w1, w2 = workers
    r = room()
    alice, _, _ = join(w1.ws_url, r, "alice", action="create", features=["typing"])
    bob, _, _ = join(w2.ws_url, r, "bob", features=["typing"])
    started = time.monotonic()
    for _ in range(3):
        alice.send("typing")
    alice.chat(r, "burst")
    assert len(typings(frames_until_chat(bob, "burst"))) == 1
    assert time.monotonic() - started < 1.5  # the burst really was inside the window
    time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    alice.send("typing")
    alice.chat(r, "later")
    assert len(typings(frames_until_chat(bob, "later"))) == 1
    # Dropping is silent: no error ever came back to the sender.
    alice.send("ping")
    assert alice.recv_until(lambda f: f.get("type") in ("pong", "error"))["type"] == "pong"


def test_typing_before_a_join_and_a_bad_features_list_are_refused(workers):
    w1, _ = workers
    c = Client(w1.ws_url)
    c.send("typing")
    error = c.next_error()
    assert error["code"] == "NOT_JOINED"
    for bad in ("typing", [1], ["typing"] * 9, ["x" * 33], {"typing": True}):
        c.send("join", roomId=room(), username="alice", action="create", features=bad)
        assert c.next_error()["code"] == "INVALID_PAYLOAD", bad
    # The connection is still usable, and eight names are fine.
    _, session, _ = join(w1.ws_url, room(), "alice", action="create", features=["typing"] * 8)
    assert session["features"] == ["typing"]


def test_an_old_join_gets_todays_frames(workers):
    """Echo Chat's client: a join without `features` gets today's session frame, byte for byte in
    its fields, and no typing frame ever, even with a typing member on another worker."""
    w1, w2 = workers
    r = room()
    old = Client(w1.ws_url)
    old.send("join", roomId=r, username="carol", action="create")
    session = old.recv()
    assert session["type"] == "session" and set(session) == TODAYS_SESSION_FIELDS
    assert set(session["limits"]) == {"messageLength", "imageBytes", "ratePerMinute", "rateBurst"}
    assert old.recv()["type"] == "history"
    typer, _, _ = join(w2.ws_url, r, "alice", features=["typing"])
    typer.send("typing")
    typer.chat(r, "hi carol")
    seen = frames_until_chat(old, "hi carol")
    assert {f.get("type", "system") for f in seen} <= {"chat", "system"}
