"""Issue 13: reactions, against a real redis-server (or the Redis Cluster `make test` starts) and
two real echo-worker processes: members sit on both workers, so every reaction crosses Redis
pub/sub, and history and resume fold them from the stream."""
from __future__ import annotations

import signal
import uuid

import pytest

from wsclient import Client, author_key, frames_until_chat, join_announcing

REACT_FIELDS = {"type", "id", "messageId", "emoji", "sessionId", "username", "on"}


def room() -> str:
    return "r" + uuid.uuid4().hex[:12]


def join(url, room_id, name, action="join", features=None, since=None, key=None):
    """Joins; returns the client and its history frame's messages."""
    c, _, history = join_announcing(url, room_id, name, action, features=features, since=since, authorKey=key)
    return c, history["messages"]


def say(c: Client, r: str, text: str) -> dict:
    c.chat(r, text)
    return c.recv_until(lambda f: f.get("type") == "chat" and f.get("text") == text)


def react(c: Client, message_id: str, emoji: str, of: str | None = None) -> dict:
    """Sends a reaction; returns the sender's own react frame (it gets it through the room) or its
    error. The frame names `of`, the session that turned the reaction on (an off from a later
    session of the same authorKey names the earlier one), by default the sender's."""
    c.send("react", messageId=message_id, emoji=emoji)
    return c.recv_until(lambda f: f.get("type") == "error" or (
        f.get("type") == "react" and f["sessionId"] == (of or c.session_id) and f["messageId"] == message_id and f["emoji"] == emoji))


def position(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


def of_type(frames, kind):
    return [f for f in frames if f.get("type") == kind]


def history(c: Client) -> list[dict]:
    c.send("history")
    return c.recv_until(lambda f: f.get("type") == "history")["messages"]


def chat_by_text(messages, text) -> dict:
    return next(m for m in messages if m.get("type") == "chat" and m.get("text") == text)


def test_a_toggle_reaches_members_granted_react_on_the_other_worker_and_its_sender_only(workers):
    w1, w2 = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"])
    assert alice.features == ["react"]
    bob, _ = join(w2.ws_url, r, "bob", features=["typing", "edit", "react"])
    old, _ = join(w2.ws_url, r, "carol")  # an Echo Chat client: announces nothing
    editor, _ = join(w2.ws_url, r, "dan", features=["edit"])  # features, but not react

    message = say(alice, r, "hi")
    on = react(bob, message["id"], "👍")
    off = react(bob, message["id"], "👍")
    assert set(on) == REACT_FIELDS, on
    assert on | {"id": ""} == {"type": "react", "id": "", "messageId": message["id"], "emoji": "👍",
                               "sessionId": bob.session_id, "username": "bob", "on": True}
    assert off["on"] is False and position(off["id"]) > position(on["id"]) > position(message["id"])
    bob.chat(r, "marker")

    # Alice, on the other worker, gets both in order; the sender got its own (its other tabs too).
    got = of_type(frames_until_chat(alice, "marker"), "react")
    assert [(f["emoji"], f["on"], f["username"]) for f in got] == [("👍", True, "bob"), ("👍", False, "bob")]
    # Neither the old client nor a featured member without react sees a react frame.
    for c in (old, editor):
        frames = frames_until_chat(c, "marker")
        assert not of_type(frames, "react"), frames
        assert [f.get("text") for f in frames if f.get("sender") != "System"] == ["hi", "marker"]
    for c in (alice, bob, old, editor):
        c.close()


def test_history_carries_reactions_for_granted_members_and_nothing_for_others(workers):
    w1, w2 = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"])
    bob, _ = join(w2.ws_url, r, "bob", features=["react", "edit"])
    first = say(alice, r, "first")
    second = say(alice, r, "second")
    assert react(alice, first["id"], "👍")["on"] is True
    assert react(bob, first["id"], "👍")["on"] is True
    assert react(bob, first["id"], "🎉")["on"] is True
    assert react(alice, first["id"], "❤️")["on"] is True
    assert react(alice, first["id"], "❤️")["on"] is False  # off again: gone from history

    eve, eve_joined = join(w2.ws_url, r, "eve", features=["react"])
    for messages in (history(bob), eve_joined):
        reacted = chat_by_text(messages, "first")
        assert reacted["reactions"] == {"👍": ["alice", "bob"], "🎉": ["bob"]}, reacted
        assert reacted["text"] == "first" and reacted["sender"] == "alice"
        assert "reactions" not in chat_by_text(messages, "second")
        # The react entries are listed in order (a resume replays them).
        assert [(m["emoji"], m["on"]) for m in of_type(messages, "react")] == [
            ("👍", True), ("👍", True), ("🎉", True), ("❤️", True), ("❤️", False)]

    # An old client's join and history, and a member granted only edit: no reaction data at all.
    old, old_joined = join(w1.ws_url, r, "carol")
    editor, editor_joined = join(w1.ws_url, r, "dan", features=["edit"])
    for messages in (old_joined, history(old), editor_joined, history(editor)):
        assert not of_type(messages, "react")
        assert "reactions" not in str(messages) and "🎉" not in str(messages)
        assert [m.get("text") for m in messages if m.get("type") == "chat"] == ["first", "second"]
    for c in (alice, bob, eve, old, editor):
        c.close()


def test_a_client_that_was_away_comes_back_with_the_right_reactions(workers):
    w1, w2 = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"])
    before = say(alice, r, "before")
    react(alice, before["id"], "👍")

    away, seen = join(w2.ws_url, r, "bob", features=["react"])
    old_away, old_seen = join(w2.ws_url, r, "carol")
    assert chat_by_text(seen, "before")["reactions"] == {"👍": ["alice"]}
    since, old_since = seen[-1]["id"], old_seen[-1]["id"]
    away.close()
    old_away.close()

    # While bob is away: a reaction off and one on for the message he has, and a new message
    # with a reaction that is turned off again and one that stays.
    react(alice, before["id"], "👍")
    react(alice, before["id"], "🔥")
    during = say(alice, r, "during")
    react(alice, during["id"], "😂")
    react(alice, during["id"], "😂")
    react(alice, during["id"], "🙂")
    say(alice, r, "after")

    back, replay = join(w2.ws_url, r, "bob", features=["react"], since=since)
    steps = [(m["type"], m.get("messageId"), m.get("emoji"), m.get("on")) for m in replay if m["type"] == "react"]
    assert steps == [
        ("react", before["id"], "👍", False), ("react", before["id"], "🔥", True),
        ("react", during["id"], "😂", True), ("react", during["id"], "😂", False), ("react", during["id"], "🙂", True)]
    # The message written while away carries its reactions as they stand; the replay is in stream order.
    assert chat_by_text(replay, "during")["reactions"] == {"🙂": ["alice"]}
    assert [m["id"] for m in replay] == sorted((m["id"] for m in replay), key=position)
    # Folding what the client had with the replay gives the state a fresh join shows.
    state = {before["id"]: {"👍": {"alice"}}, during["id"]: {"🙂": {"alice"}}}
    for m in replay:
        if m["type"] == "react":
            names = state.setdefault(m["messageId"], {}).setdefault(m["emoji"], set())
            (names.add if m["on"] else names.discard)(m["username"])
    eve, fresh = join(w1.ws_url, r, "eve", features=["react"])
    for message in (before, during):
        expected = {e: sorted(n) for e, n in state[message["id"]].items() if n}
        assert {e: sorted(n) for e, n in chat_by_text(fresh, message["text"]).get("reactions", {}).items()} == expected
    assert chat_by_text(fresh, "before")["reactions"] == {"🔥": ["alice"]}

    # An old client resumes: the new messages only, without reactions.
    old_back, old_replay = join(w2.ws_url, r, "carol", since=old_since)
    assert [m.get("text") for m in old_replay] == ["during", "after"]
    assert "reactions" not in str(old_replay)
    for c in (alice, back, eve, old_back):
        c.close()


def test_a_reaction_needs_a_chat_message_that_is_still_there(workers, redis_server):
    w1, w2 = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react", "edit"], key=author_key())
    bob, _ = join(w2.ws_url, r, "bob", features=["react"])
    assert react(bob, "1-0", "👍")["code"] == "MESSAGE_NOT_FOUND"
    message = say(alice, r, "short-lived")
    reaction = react(bob, message["id"], "👍")
    assert reaction["type"] == "react"
    # A react entry is not a chat message.
    assert react(bob, reaction["id"], "👍")["code"] == "MESSAGE_NOT_FOUND"

    # The reaction state lives beside the stream, with the room's TTL; a delete takes it along.
    reactions = f"room:{{{r}}}:react:{message['id']}" if redis_server.is_cluster else f"room:{r}:react:{message['id']}"
    assert 0 < int(redis_server.cli("TTL", reactions)) <= 86400 * 30
    alice.send("delete", messageId=message["id"])
    alice.recv_until(lambda f: f.get("type") == "delete")
    assert redis_server.cli("EXISTS", reactions).strip() == "0"
    assert react(bob, message["id"], "👍")["code"] == "MESSAGE_NOT_FOUND"
    # Its reactions are gone from history with it (the react entry is still listed for bob).
    assert "reactions" not in str(history(bob))
    for c in (alice, bob):
        c.close()


@pytest.mark.parametrize("emoji", ["👍👍", "👨‍👩‍👧", "", "ab", " ", "\u200d"])
def test_an_emoji_that_is_not_one_short_symbol_is_refused(workers, emoji):
    w1, _ = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"])
    message = say(alice, r, "hi")
    assert len("👨‍👩‍👧".encode()) > 16
    error = react(alice, message["id"], emoji)
    assert error["type"] == "error" and error["code"] == "INVALID_PAYLOAD", error
    alice.send("react", messageId=message["id"])
    assert alice.next_error()["code"] == "INVALID_PAYLOAD"
    alice.send("react", messageId="nope", emoji="👍")
    assert alice.next_error()["code"] == "INVALID_PAYLOAD"
    alice.close()


def test_a_message_holds_at_most_twenty_distinct_emoji(workers):
    w1, w2 = workers
    r = room()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"])
    bob, _ = join(w2.ws_url, r, "bob", features=["react"])
    message = say(alice, r, "popular")
    emoji = [chr(0x1F600 + i) for i in range(21)]
    # Two connections share the work: each has a request bucket of 20.
    for i, e in enumerate(emoji[:20]):
        assert react(alice if i % 2 else bob, message["id"], e)["on"] is True
    error = react(alice, message["id"], emoji[20])
    assert error["code"] == "TOO_MANY_REACTIONS", error
    # An emoji the message already has is still welcome; one turned off makes room for another.
    assert react(alice, message["id"], emoji[0])["on"] is True
    assert react(bob, message["id"], emoji[0])["on"] is False
    assert react(bob, message["id"], emoji[20])["code"] == "TOO_MANY_REACTIONS"  # alice still has emoji[0] on
    assert react(alice, message["id"], emoji[0])["on"] is False
    assert react(bob, message["id"], emoji[20])["on"] is True
    reactions = chat_by_text(history(bob), "popular")["reactions"]
    assert set(reactions) == set(emoji[1:]) and len(reactions) == 20
    for c in (alice, bob):
        c.close()


def test_a_reaction_before_a_join_is_not_joined(workers):
    w1, _ = workers
    stranger = Client(w1.ws_url)
    stranger.send("react", messageId="1-0", emoji="👍")
    assert stranger.next_error()["code"] == "NOT_JOINED"
    stranger.close()


def test_the_catch_up_after_a_lost_subscription_folds_reactions_for_granted_members_only(workers, redis_server):
    w1, w2 = workers
    r = room()
    sender, _ = join(w2.ws_url, r, "sender", action="create", features=["react"])
    reader, _ = join(w1.ws_url, r, "reader", features=["react"])
    old, _ = join(w1.ws_url, r, "carol")
    say(sender, r, "warm-up")
    for c in (reader, old):
        c.recv_until(lambda f: f.get("text") == "warm-up")
    # The readers' worker is paused while its subscription is dropped and the room moves on: once
    # it runs again it reads what it missed from the stream (the catch-up), where the message and
    # its reactions are one stretch.
    w1.signal(signal.SIGSTOP)
    try:
        redis_server.on_primaries("CLIENT", "KILL", "TYPE", "pubsub")
        sender.chat(r, "missed")
        missed = sender.recv_until(lambda f: f.get("type") == "chat" and f.get("text") == "missed", timeout=10)
        react(sender, missed["id"], "👍")
        react(sender, missed["id"], "🎉")
        react(sender, missed["id"], "🎉")
        say(sender, r, "marker")
    finally:
        w1.signal(signal.SIGCONT)
    frames = frames_until_chat(reader, "marker")
    replayed = chat_by_text(frames, "missed")
    assert replayed["reactions"] == {"👍": ["sender"]}, frames
    assert [(f["emoji"], f["on"]) for f in of_type(frames, "react")] == [("👍", True), ("🎉", True), ("🎉", False)]
    old_frames = frames_until_chat(old, "marker")
    assert [f.get("text") for f in old_frames if f.get("sender") != "System"] == ["missed", "marker"]
    assert "reactions" not in str(old_frames) and not of_type(old_frames, "react")
    for c in (sender, reader, old):
        c.close()


def test_a_reaction_belongs_to_the_authorkey_so_a_reload_turns_it_off_and_tabs_share_it(workers, redis_server):
    w1, w2 = workers
    r = room()
    key = author_key()
    alice, _ = join(w1.ws_url, r, "alice", action="create", features=["react"], key=key)
    bob, _ = join(w2.ws_url, r, "bob", features=["react"])  # no authorKey: one session, as before
    message = say(alice, r, "hi")
    first = alice.session_id
    assert react(alice, message["id"], "👍")["on"] is True
    assert react(bob, message["id"], "👍")["on"] is True
    alice.close()

    # A reload: a new connection (on the other worker), the same authorKey, a new session.
    alice, seen = join(w2.ws_url, r, "alice", action="rejoin", features=["react"], key=key)
    assert alice.session_id != first
    assert chat_by_text(seen, "hi")["reactions"] == {"👍": ["alice", "bob"]}
    off = react(alice, message["id"], "👍", of=first)
    assert off | {"id": ""} == {"type": "react", "id": "", "messageId": message["id"], "emoji": "👍",
                                "sessionId": first, "username": "alice", "on": False}
    # Bob (the other worker) gets the same frame, so folding by sessionId removes alice's entry.
    assert bob.recv_until(lambda f: f.get("type") == "react" and f["id"] == off["id"]) == off
    eve, fresh = join(w1.ws_url, r, "eve", features=["react"])
    assert chat_by_text(fresh, "hi")["reactions"] == {"👍": ["bob"]}
    assert chat_by_text(history(bob), "hi")["reactions"] == {"👍": ["bob"]}
    on = react(alice, message["id"], "👍")
    assert (on["on"], on["sessionId"], on["username"]) == (True, alice.session_id, "alice")
    assert chat_by_text(history(eve), "hi")["reactions"] == {"👍": ["bob", "alice"]}

    # Bob toggles per session: after a reload (no authorKey) his old reaction stays and a new
    # one from the new session is a second entry, turned off by that session alone.
    bob_first = bob.session_id
    bob.close()
    bob, _ = join(w2.ws_url, r, "bob", action="rejoin", features=["react"])
    again = react(bob, message["id"], "👍")
    assert (again["on"], again["sessionId"]) == (True, bob.session_id) and bob.session_id != bob_first
    assert chat_by_text(history(eve), "hi")["reactions"] == {"👍": ["bob", "alice", "bob"]}
    assert react(bob, message["id"], "👍")["on"] is False
    assert chat_by_text(history(eve), "hi")["reactions"] == {"👍": ["bob", "alice"]}

    # Two tabs of one author (one per worker) share one reaction: the other tab turns it off,
    # naming the session that turned it on, and both tabs see it.
    tab, _ = join(w1.ws_url, r, "alice", features=["react"], key=key)
    off = react(tab, message["id"], "👍", of=alice.session_id)
    assert (off["on"], off["sessionId"]) == (False, alice.session_id)
    assert alice.recv_until(lambda f: f.get("type") == "react" and f["id"] == off["id"]) == off
    assert chat_by_text(history(eve), "hi")["reactions"] == {"👍": ["bob"]}
    on = react(tab, message["id"], "🎉")
    alice.recv_until(lambda f: f.get("type") == "react" and f["id"] == on["id"])  # the tab's own on, which names the tab too
    assert react(alice, message["id"], "🎉", of=tab.session_id)["on"] is False
    assert "🎉" not in chat_by_text(history(eve), "hi")["reactions"]

    # The author hash is in the reaction hash only: nothing a client receives carries it, and
    # the hash names alice by it, never by her sessions.
    reactions = f"room:{{{r}}}:react:{message['id']}" if redis_server.is_cluster else f"room:{r}:react:{message['id']}"
    assert react(tab, message["id"], "👍")["on"] is True
    fields = redis_server.cli("HKEYS", reactions).split()
    authored = [f for f in fields if f.startswith("a:")]
    assert len(authored) == 1 and authored[0].endswith(":👍"), fields
    assert not any(alice_session in f for f in fields for alice_session in (first, alice.session_id, tab.session_id))
    author_hash = authored[0][2:-len(":👍")]
    for c in (alice, tab, bob, eve):
        assert author_hash not in str(history(c))
    for c in (alice, tab, bob, eve):
        c.close()
