"""Issue 13: authorship, edit and delete, against a real redis-server (or the Redis Cluster
`make test` starts) and two real echo-worker processes: the author sits on one worker, the
other members on the other, so every edit and delete crosses Redis pub/sub, and history and
resume read them back from the stream."""
from __future__ import annotations

import base64
import time
import uuid

import pytest

from wsclient import Client, author_key, frames_until_chat, join_announcing

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"SECRETPIXELS" * 4).decode()


def room() -> str:
    return "e" + uuid.uuid4().hex[:12]


def join(url, room_id, name, action="join", features=None, key=None, since=None):
    """Joins; returns the client and its history frame's messages."""
    c, _, history = join_announcing(url, room_id, name, action, features=features, authorKey=key, since=since)
    return c, history["messages"]


def say(c: Client, r: str, text: str, **extra) -> dict:
    c.chat(r, text, **extra)
    return c.recv_until(lambda f: f.get("type") == "chat" and f.get("text") == text)


def of_type(frames, kind):
    return [f for f in frames if f.get("type") == kind]


def history(c: Client) -> list[dict]:
    c.send("history")
    return c.recv_until(lambda f: f.get("type") == "history")["messages"]


def test_edit_and_delete_by_the_author_reach_featured_members_on_the_other_worker_only(workers):
    w1, w2 = workers
    r = room()
    key = author_key()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["edit"], key=key)
    assert alice.features == ["edit"]
    bob, _ = join(w2.ws_url, r, "bob", features=["edit", "typing"])
    old, _ = join(w2.ws_url, r, "carol")  # an Echo Chat client: announces nothing

    first = say(alice, r, "frist")
    second = say(alice, r, "oops", image=PNG)
    alice.send("edit", messageId=first["id"], text="first")
    alice.send("delete", messageId=second["id"])
    alice.chat(r, "marker")

    got = frames_until_chat(bob, "marker")
    edits, deletes = of_type(got, "edit"), of_type(got, "delete")
    assert len(edits) == 1 and len(deletes) == 1, got
    assert edits[0]["messageId"] == first["id"] and edits[0]["text"] == "first"
    assert isinstance(edits[0]["editedAt"], int) and edits[0]["id"] > first["id"]
    assert set(edits[0]) == {"type", "id", "messageId", "text", "editedAt"}
    assert deletes[0] == {"type": "delete", "id": deletes[0]["id"], "messageId": second["id"]}
    assert deletes[0]["id"] > edits[0]["id"]
    # The author (featured) gets its own change back, through the room.
    assert len(of_type(frames_until_chat(alice, "marker"), "edit")) == 1
    # The old client never sees an edit or delete frame.
    assert [f.get("type") for f in frames_until_chat(old, "marker") if f.get("sender") != "System"] == ["chat", "chat", "chat"]

    # History: the featured member sees the edited text and a tombstone; the old client the
    # edited text and no deleted message; neither sees the image any more.
    featured = history(bob)
    by_id = {m.get("id"): m for m in featured if m.get("type") == "chat"}
    assert by_id[first["id"]]["text"] == "first" and "editedAt" in by_id[first["id"]]
    assert by_id[second["id"]] == {"type": "chat", "id": second["id"], "messageId": second["id"], "deleted": True}
    assert [m["type"] for m in featured if m.get("type") in ("edit", "delete")] == ["edit", "delete"]
    plain = history(old)
    assert [m.get("text") for m in plain if m.get("type") == "chat"] == ["first", "marker"]
    assert not of_type(plain, "edit") and not of_type(plain, "delete")
    assert "SECRETPIXELS" not in str(featured) + str(plain)
    for c in (alice, bob, old):
        c.close()


def test_the_image_of_a_deleted_message_leaves_redis(workers, redis_server):
    w1, _ = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["edit"], key=author_key())
    message = say(alice, r, "picture", image=PNG)
    stream = f"stream:{{{r}}}" if redis_server.is_cluster else f"stream:{r}"
    assert "SECRETPIXELS" in base64.b64decode(redis_server.cli("XRANGE", stream, "-", "+").split("base64,")[1].split('"')[0]).decode("latin1")
    alice.send("delete", messageId=message["id"])
    alice.recv_until(lambda f: f.get("type") == "delete")
    stored = redis_server.cli("XRANGE", stream, "-", "+")
    assert "base64" not in stored and "picture" not in stored and message["id"] in stored  # only the delete entry names it
    alice.close()


def test_only_the_same_key_may_edit_or_delete_and_errors_name_the_rule(workers):
    w1, w2 = workers
    r = room()
    key = author_key()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["edit"], key=key)
    message = say(alice, r, "mine")

    mallory, _ = join(w2.ws_url, r, "alice", features=["edit"], key=author_key())  # same name, other key
    mallory.send("edit", messageId=message["id"], text="pwned", clientId="m1")
    assert mallory.next_error() | {"message": ""} == {"type": "error", "code": "NOT_AUTHOR", "message": "", "clientId": "m1"}
    mallory.send("delete", messageId=message["id"])
    assert mallory.next_error()["code"] == "NOT_AUTHOR"
    keyless, _ = join(w2.ws_url, r, "dan", features=["edit"])
    keyless.send("delete", messageId=message["id"])
    assert keyless.next_error()["code"] == "NOT_AUTHOR"
    mallory.send("edit", messageId="1-0", text="x")
    assert mallory.next_error()["code"] == "MESSAGE_NOT_FOUND"
    alice.send("edit", messageId=message["id"], text="   ")
    assert alice.next_error()["code"] == "EMPTY_MESSAGE"
    alice.send("edit", messageId="not-an-id", text="x")
    assert alice.next_error()["code"] == "INVALID_PAYLOAD"
    stranger = Client(w2.ws_url)
    stranger.send("edit", messageId=message["id"], text="x")
    assert stranger.next_error()["code"] == "NOT_JOINED"

    # The same key on another connection (a reload, the other worker) is the same author.
    again, _ = join(w2.ws_url, r, "alice", features=["edit"], key=key)
    again.send("edit", messageId=message["id"], text="still mine", clientId="e1")
    again.send("edit", messageId=message["id"], text="still mine", clientId="e1")  # a retry: not stored twice
    again.send("delete", messageId=message["id"])
    again.recv_until(lambda f: f.get("type") == "delete")
    again.send("edit", messageId=message["id"], text="too late")
    assert again.next_error()["code"] == "MESSAGE_NOT_FOUND"
    again.send("delete", messageId=message["id"])
    assert again.next_error()["code"] == "MESSAGE_NOT_FOUND"
    assert len(of_type(history(again), "edit")) == 1
    for c in (alice, mallory, keyless, stranger, again):
        c.close()


def test_an_edit_after_the_window_is_refused_a_delete_is_not(start_worker):
    w1, w2 = start_worker(ECHO_EDIT_WINDOW="1"), start_worker(ECHO_EDIT_WINDOW="1")
    r = room()
    key = author_key()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["edit"], key=key)
    message = say(alice, r, "soon stale")
    alice.send("edit", messageId=message["id"], text="in time")
    assert alice.recv_until(lambda f: f.get("type") in ("edit", "error"))["type"] == "edit"
    time.sleep(1.3)
    other, _ = join(w2.ws_url, r, "alice", features=["edit"], key=key)
    other.send("edit", messageId=message["id"], text="late")
    assert other.next_error()["code"] == "EDIT_WINDOW_CLOSED"
    other.send("delete", messageId=message["id"])
    assert other.recv_until(lambda f: f.get("type") in ("delete", "error"))["type"] == "delete"
    alice.close()
    other.close()


def test_a_client_that_was_away_comes_back_to_the_edited_text_without_the_deleted_message(workers):
    w1, w2 = workers
    r = room()
    key = author_key()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["edit"], key=key)
    keep = say(alice, r, "keep me")
    gone = say(alice, r, "delete me")
    say(alice, r, "quoting", replyTo={"messageId": gone["id"], "sender": "alice", "preview": "delete me"})

    away, seen = join(w2.ws_url, r, "bob", features=["edit"])
    old_away, old_seen = join(w2.ws_url, r, "carol")
    since, old_since = seen[-1]["id"], old_seen[-1]["id"]
    away.close()
    old_away.close()

    alice.send("edit", messageId=keep["id"], text="kept and edited")
    alice.send("delete", messageId=gone["id"])
    say(alice, r, "after")

    # A featured client resumes: the edit and the delete are replayed in order, then the new message.
    back, replay = join(w2.ws_url, r, "bob", features=["edit"], since=since)
    assert [(m["type"], m.get("messageId"), m.get("text")) for m in replay] == [
        ("edit", keep["id"], "kept and edited"), ("delete", gone["id"], None), ("chat", replay[-1]["id"], "after")]
    # An old client resumes: only the new message (no edit or delete frames ever).
    old_back, old_replay = join(w2.ws_url, r, "carol", since=old_since)
    assert [m.get("text") for m in old_replay] == ["after"]
    # Anyone joining afresh sees the edited text, no deleted message, and the quote says deleted.
    fresh, messages = join(w1.ws_url, r, "dan")
    chats = [m for m in messages if m.get("sender") != "System"]
    assert [m.get("text") for m in chats] == ["kept and edited", "quoting", "after"]
    assert chats[1]["replyTo"]["preview"] == "deleted" and chats[1]["replyTo"]["deleted"] is True
    featured_fresh, featured_messages = join(w1.ws_url, r, "eve", features=["edit"])
    assert {"type": "chat", "id": gone["id"], "messageId": gone["id"], "deleted": True} in featured_messages
    for c in (alice, back, old_back, fresh, featured_fresh):
        c.close()
