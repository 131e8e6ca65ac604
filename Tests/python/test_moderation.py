"""Issue 13: moderation (the room owner's kick and lock), against a real redis-server (or the Redis
Cluster `make test` starts) and two real echo-worker processes: the owner sits on one worker, the
members it kicks or locks out on the other, so every kick and lock crosses Redis pub/sub, and every
locked-out join is refused by the join script."""
from __future__ import annotations

import base64
import time
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from wsclient import Client, author_key, frames_until_chat, join_announcing

MOD = ["moderation"]


def room() -> str:
    return "m" + uuid.uuid4().hex[:12]


def join(url, room_id, name, action="join", features=None, key=None, owner=None):
    """Joins; returns the client and its session frame."""
    c, session, _ = join_announcing(url, room_id, name, action, features=features, authorKey=key, ownerKey=owner)
    return c, session


def refused(url, room_id, name, action="join", features=None, key=None, owner=None) -> str:
    """A join that must fail: returns its error code."""
    c = Client(url)
    payload = {"roomId": room_id, "username": name, "action": action}
    payload.update({k: v for k, v in {"features": features, "authorKey": key, "ownerKey": owner}.items() if v is not None})
    c.send("join", **payload)
    answer = c.recv_until(lambda f: f.get("type") in ("session", "error"))
    c.close()
    assert answer["type"] == "error", answer
    return answer["code"]


def close_code(c: Client, timeout=5.0) -> int | None:
    """Reads until the server closes the connection; its close code."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("still open")
            c.ws.recv(timeout=left)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def still_answers(c: Client) -> list[dict]:
    """Pings; every frame before the pong (a refusal would be one of them)."""
    c.send("ping")
    frames = []
    while True:
        f = c.recv()
        if f.get("type") == "pong":
            return frames
        frames.append(f)


def test_the_creator_gets_an_owner_key_and_no_one_else_does(workers):
    w1, w2 = workers
    r = room()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD)
    assert alice.features == ["moderation"]
    key = session["ownerKey"]
    assert isinstance(key, str) and len(key) == 43 and base64.urlsafe_b64decode(key + "=")
    assert session["locked"] is False

    _, bob = join(w2.ws_url, r, "bob", features=MOD)
    assert "ownerKey" not in bob and bob["locked"] is False
    # A create of the room that exists makes nothing: no key.
    _, again = join(w2.ws_url, r, "bo", action="create", features=MOD)
    assert "ownerKey" not in again
    # An Echo Chat client: no moderation fields at all.
    _, old = join(w2.ws_url, r, "carol")
    assert "ownerKey" not in old and "locked" not in old and "features" not in old
    # A create that did not ask for moderation makes a room without an owner.
    _, plain = join(w1.ws_url, room(), "dave", action="create", features=["typing"])
    assert "ownerKey" not in plain and "locked" not in plain


def test_only_the_owner_key_moderates(workers):
    w1, w2 = workers
    r = room()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD)
    bob, _ = join(w2.ws_url, r, "bob", features=MOD)

    for c, payload in [
        (bob, {"sessionId": alice.session_id, "ownerKey": author_key()}),
        (alice, {"sessionId": bob.session_id, "ownerKey": author_key()}),
    ]:
        c.send("kick", **payload)
        assert c.next_error()["code"] == "NOT_OWNER"
    bob.send("lock", locked=True, ownerKey=author_key())
    assert bob.next_error()["code"] == "NOT_OWNER"
    # The owner key of another room is not this room's.
    _, other = join(w1.ws_url, room(), "eve", action="create", features=MOD)
    alice.send("lock", locked=True, ownerKey=other["ownerKey"])
    assert alice.next_error()["code"] == "NOT_OWNER"
    # Bad payloads, and a kick of oneself.
    alice.send("kick", sessionId=bob.session_id, ownerKey="short")
    assert alice.next_error()["code"] == "INVALID_PAYLOAD"
    alice.send("kick", sessionId=alice.session_id, ownerKey=session["ownerKey"])
    assert alice.next_error()["code"] == "INVALID_PAYLOAD"
    # A session that is not a member: nothing happens, nothing is refused.
    alice.send("kick", sessionId="no-such-session", ownerKey=session["ownerKey"])
    assert still_answers(alice) == []
    # Nobody was closed or locked out.
    bob.chat(r, "still here")
    assert alice.next_chat()["text"] == "still here"

    # Before a join: NOT_JOINED, as for every request.
    stranger = Client(w2.ws_url)
    stranger.send("kick", sessionId=bob.session_id, ownerKey=session["ownerKey"])
    assert stranger.next_error()["code"] == "NOT_JOINED"
    stranger.send("lock", locked=True, ownerKey=session["ownerKey"])
    assert stranger.next_error()["code"] == "NOT_JOINED"


def test_a_kick_closes_every_connection_of_the_member_on_every_worker_with_4001(workers):
    w1, w2 = workers
    r = room()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD)
    owner = session["ownerKey"]
    bob_key = author_key()
    bob, _ = join(w2.ws_url, r, "bob", features=MOD, key=bob_key)
    bob_tab, _ = join(w1.ws_url, r, "bob", features=["typing"], key=bob_key)  # his other tab, on the other worker
    dave, _ = join(w2.ws_url, r, "dave", features=MOD)
    carol, _ = join(w2.ws_url, r, "carol")  # an Echo Chat client

    alice.send("kick", sessionId=bob.session_id, ownerKey=owner)
    assert close_code(bob) == 4001
    assert close_code(bob_tab) == 4001
    alice.chat(r, "after the kick")

    seen = frames_until_chat(dave, "after the kick")
    kicks = [f for f in seen if f.get("sender") == "System" and f.get("message") == "kick"]
    assert len(kicks) == 1, seen
    assert set(kicks[0]) == {"sender", "message", "username", "sessionId", "timestamp"}
    assert kicks[0]["username"] == "bob" and kicks[0]["sessionId"] == bob.session_id
    # The ordinary leave follows for each closed connection; nobody is sent the author hash.
    assert all("author" not in f for f in seen)
    leaves = [f for f in seen if f.get("message") == "leave"]
    assert {f["sessionId"] for f in leaves} <= {bob.session_id, bob_tab.session_id}

    # The old client sees no kick frame, only what it always understood (System leave, chat).
    old = frames_until_chat(carol, "after the kick")
    assert all(f.get("message") in ("join", "leave") for f in old if f.get("sender") == "System"), old
    assert not [f for f in old if f.get("type") not in (None, "chat")], old
    # While unlocked a kicked member may come back.
    back, _ = join(w2.ws_url, r, "bob", action="rejoin", features=MOD, key=bob_key)
    back.chat(r, "back")
    assert carol.next_chat()["text"] == "back"


def test_a_lock_lets_only_its_members_back_and_never_a_kicked_one(workers):
    w1, w2 = workers
    r = room()
    alice_key = author_key()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD, key=alice_key)
    owner = session["ownerKey"]
    bob_key, mallory_key = author_key(), author_key()
    bob, _ = join(w2.ws_url, r, "bob", features=MOD, key=bob_key)
    mallory, _ = join(w2.ws_url, r, "mallory", features=MOD, key=mallory_key)
    carol, _ = join(w2.ws_url, r, "carol")  # an Echo Chat client, no authorKey

    alice.send("lock", locked=True, ownerKey=owner)
    assert bob.recv_until(lambda f: f.get("type") == "lock") == {"type": "lock", "locked": True}
    assert alice.recv_until(lambda f: f.get("type") == "lock") == {"type": "lock", "locked": True}

    # Newcomers: every way in is refused.
    for action in ("join", "create", "rejoin"):
        assert refused(w2.ws_url, r, "zed", action=action, features=MOD) == "ROOM_LOCKED", action
        assert refused(w1.ws_url, r, "zed", action=action, key=author_key()) == "ROOM_LOCKED", action

    # A member present at the lock reconnects (a new connection, rejoin, the same authorKey).
    bob.close()
    bob, back = join(w1.ws_url, r, "bob", action="rejoin", features=MOD, key=bob_key)
    assert back["locked"] is True and "ownerKey" not in back
    # ... but only by rejoin, and only with the recorded key.
    assert refused(w2.ws_url, r, "bob", action="join", key=bob_key) == "ROOM_LOCKED"
    assert refused(w2.ws_url, r, "bob", action="rejoin") == "ROOM_LOCKED"
    # The owner always gets in with its key, whatever the action.
    _, owner_again = join(w2.ws_url, r, "alice", action="join", features=MOD, owner=owner)
    assert owner_again["locked"] is True

    # A kicked member cannot come back while the room is locked.
    alice.send("kick", sessionId=mallory.session_id, ownerKey=owner)
    assert close_code(mallory) == 4001
    assert refused(w2.ws_url, r, "mallory", action="rejoin", key=mallory_key) == "ROOM_LOCKED"

    # The old client in the locked room keeps chatting and never sees a lock frame.
    carol.chat(r, "carol in the locked room")
    assert bob.next_chat()["text"] == "carol in the locked room"
    alice.send("lock", locked=False, ownerKey=owner)
    assert bob.recv_until(lambda f: f.get("type") == "lock") == {"type": "lock", "locked": False}
    alice.chat(r, "unlocked")
    old = frames_until_chat(carol, "unlocked")
    assert not [f for f in old if f.get("type") == "lock" or f.get("message") == "kick"], old

    # Unlocked: newcomers and the kicked member come in again.
    _, newcomer = join(w2.ws_url, r, "zed", features=MOD)
    assert newcomer["locked"] is False
    join(w1.ws_url, r, "mallory", action="rejoin", key=mallory_key)


def test_a_kicked_member_stays_out_of_a_later_lock(workers):
    w1, w2 = workers
    r = room()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD)
    owner = session["ownerKey"]
    mallory_key = author_key()
    mallory, _ = join(w2.ws_url, r, "mallory", key=mallory_key)
    alice.send("kick", sessionId=mallory.session_id, ownerKey=owner)
    assert close_code(mallory) == 4001
    # Back while unlocked, present when the lock is set: still not let back in after it.
    mallory, _ = join(w2.ws_url, r, "mallory", action="rejoin", key=mallory_key)
    alice.send("lock", locked=True, ownerKey=owner)
    assert alice.recv_until(lambda f: f.get("type") == "lock")["locked"] is True
    mallory.close()
    assert refused(w1.ws_url, r, "mallory", action="rejoin", key=mallory_key) == "ROOM_LOCKED"


def test_moderation_requests_count_against_the_request_bucket(workers):
    w1, _ = workers
    r = room()
    alice, session = join(w1.ws_url, r, "alice", action="create", features=MOD)
    for _ in range(40):
        alice.send("lock", locked=False, ownerKey=session["ownerKey"])
    codes = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "RATE_LIMITED" not in codes:
        f = alice.recv()
        if f.get("type") == "error":
            codes.append(f["code"])
    assert "RATE_LIMITED" in codes
