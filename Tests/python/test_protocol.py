"""Issue 2: the Echo Chat protocol end to end, against a real redis-server and real echo-worker
processes."""
from __future__ import annotations

import base64
import json
import re
import signal
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import RedisServer, free_port, http_get, room_code, wait_for
from rawws import RawWebSocket
from wsclient import Client

PNG = base64.b64encode(bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + b"\0" * 24).decode()


def room() -> str:
    return room_code("t")


@pytest.fixture
def worker(start_worker):
    return start_worker()


def joined(url, room_id, name, action="join", **kw):
    c = Client(url)
    history = c.join(room_id, name, action=action, **kw)
    assert history.get("type") == "history", history
    return c, history


def test_join_reports_members_and_session(worker):
    r = room()
    a, history = joined(worker.ws_url, r, "alice", action="create")
    assert history["messages"] == []
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}", a.session_id)
    first = a.recv_until(lambda f: f.get("sender") == "System")
    assert first["message"] == "join" and first["username"] == "alice" and first["usersCount"] == 1
    b, _ = joined(worker.ws_url, r, "bob")
    for c in (a, b):
        event = c.recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "bob")
        assert event["usersCount"] == 2 and event["sessionId"] == b.session_id
        assert set(event) == {"sender", "message", "username", "sessionId", "timestamp", "usersCount"}


def test_chat_round_trip_reaches_everyone_including_sender(worker):
    r = room()
    a, _ = joined(worker.ws_url, r, "alice", action="create")
    b, _ = joined(worker.ws_url, r, "bob")
    a.chat(r, "hello", clientId="m1")
    for c in (a, b):
        m = c.next_chat()
        assert m["text"] == "hello" and m["sender"] == "alice" and m["sessionId"] == a.session_id
        assert m["id"] == m["messageId"] and re.fullmatch(r"\d+-\d+", m["id"])
        assert m["image"] is None and m["replyTo"] is None and isinstance(m["timestamp"], int)
        assert m["clientId"] == "m1"


def test_sender_is_the_joined_name_not_the_claimed_one(worker):
    r = room()
    a, _ = joined(worker.ws_url, r, "alice", action="create")
    a.send("chat", roomId=r, username="admin", message="trust me")
    assert a.next_chat()["sender"] == "alice"


def test_join_unknown_room_is_room_not_found_and_create_makes_it(worker):
    c = Client(worker.ws_url)
    r = room()
    error = c.join(r, "alice", action="join")
    assert error["type"] == "error" and error["code"] == "ROOM_NOT_FOUND"
    assert c.join(r, "alice", action="create")["type"] == "history"
    other = Client(worker.ws_url)
    assert other.join(r, "bob", action="join")["type"] == "history"
    assert Client(worker.ws_url).join(room(), "carol", action="rejoin")["type"] == "history"


@pytest.mark.parametrize("frame,code", [
    ("{not json", "INVALID_JSON"),
    ('{"payload":{}}', "MISSING_TYPE"),
    ('{"type":"teleport"}', "UNKNOWN_TYPE"),
    ('{"type":"join","payload":{"roomId":"ok","username":"<img>"}}', "INVALID_USERNAME"),
    ('{"type":"join","payload":{"roomId":"ok","username":"' + "x" * 31 + '"}}', "INVALID_USERNAME"),
    ('{"type":"join","payload":{"roomId":"bad room","username":"u"}}', "INVALID_ROOM_ID"),
    ('{"type":"join","payload":{"roomId":"' + "r" * 51 + '","username":"u"}}', "INVALID_ROOM_ID"),
    ('{"type":"chat","payload":{"message":"early"}}', "NOT_JOINED"),
    ('{"type":"history"}', "NOT_JOINED"),
])
def test_input_rules_before_join(worker, frame, code):
    c = Client(worker.ws_url)
    c.send_raw(frame)
    error = c.next_error()
    assert error["code"] == code and error["message"]
    # The connection stays usable.
    c.send("ping")
    assert c.recv_until(lambda f: f.get("type") == "pong")["ts"] > 0


@pytest.mark.parametrize("payload,code", [
    ({"message": "x", "roomId": "elsewhere"}, "ROOM_MISMATCH"),
    ({}, "EMPTY_MESSAGE"),
    ({"message": "   "}, "EMPTY_MESSAGE"),
    ({"message": "y" * 2001}, "MESSAGE_TOO_LONG"),
    ({"message": "😀" * 1000 + "a"}, "MESSAGE_TOO_LONG"),
    ({"image": "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"}, "INVALID_IMAGE"),
    ({"image": "data:image/png;base64," + base64.b64encode(b"GIF89a" + b"\0" * 10).decode()}, "INVALID_IMAGE"),
    ({"image": "javascript:alert(1)"}, "INVALID_IMAGE"),
    ({"message": "x", "replyTo": {"sender": "a"}}, "INVALID_REPLY"),
    ({"message": "x", "clientId": "has space"}, "INVALID_CLIENT_ID"),
])
def test_input_rules_after_join(worker, payload, code):
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    c.send("chat", **{"roomId": r, "clientId": "p1", **payload})
    error = c.next_error()
    assert error["code"] == code, error
    # The refusal names the message it refuses (unless the clientId itself is what is wrong).
    assert error.get("clientId") == (None if code == "INVALID_CLIENT_ID" else "p1")
    if code == "ROOM_MISMATCH":
        assert "Room mismatch" in error["message"]
    c.chat(r, "still here")
    assert c.next_chat()["text"] == "still here"


def test_images_are_accepted_by_magic_number_and_size(start_worker):
    w = start_worker(ECHO_MAX_IMAGE_BYTES=str(64 * 1024))
    r = room()
    c, _ = joined(w.ws_url, r, "alice", action="create")
    ok = "data:image/png;base64," + PNG
    c.send("chat", roomId=r, image=ok)
    m = c.next_chat()
    assert m["image"] == ok and m["text"] == ""
    too_big = "data:image/png;base64," + base64.b64encode(bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + b"\0" * (64 * 1024)).decode()
    c.send("chat", roomId=r, image=too_big)
    assert c.next_error()["code"] == "IMAGE_TOO_LARGE"


def test_reply_is_revalidated_and_preview_cut(worker):
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    c.chat(r, "first")
    first = c.next_chat()
    c.send("chat", roomId=r, message="answer", replyTo={
        "messageId": first["id"], "sender": "alice", "preview": "p" * 300, "isImage": False, "html": "<b>"})
    reply = c.next_chat()["replyTo"]
    assert reply == {"messageId": first["id"], "sender": "alice", "sessionId": None, "preview": "p" * 100, "isImage": False}


def test_history_is_ordered_limited_and_capped(start_worker, redis_server):
    w = start_worker(ECHO_HISTORY_LIMIT="5", ECHO_STREAM_MAXLEN="10")
    r = room()
    c, _ = joined(w.ws_url, r, "alice", action="create")
    for i in range(250):
        c.chat(r, f"m{i}")
    for i in range(250):
        assert c.next_chat()["text"] == f"m{i}"
    c.send("history")
    history = c.recv_until(lambda f: f.get("type") == "history")
    assert [m["text"] for m in history["messages"]] == [f"m{i}" for i in range(245, 250)]
    late, late_history = joined(w.ws_url, r, "bob")
    assert [m["text"] for m in late_history["messages"]] == [f"m{i}" for i in range(245, 250)]
    # XADD MAXLEN ~ trims whole stream nodes (100 entries each): about the cap, never unbounded.
    assert int(redis_server.cli("XLEN", f"stream:{redis_server.tag(r)}")) <= 10 + 100


def test_leave_and_disconnect_tell_the_others(worker):
    r = room()
    a, _ = joined(worker.ws_url, r, "alice", action="create")
    b, _ = joined(worker.ws_url, r, "bob")
    c, _ = joined(worker.ws_url, r, "carol")
    b.send("leave", roomId=r)
    event = a.recv_until(lambda f: f.get("sender") == "System" and f.get("message") == "leave")
    assert event["username"] == "bob" and event["usersCount"] == 2
    c.close()
    event = a.recv_until(lambda f: f.get("sender") == "System" and f.get("message") == "leave")
    assert event["username"] == "carol" and event["usersCount"] == 1
    # After leaving, bob is no longer in the room.
    b.chat(r, "ghost?")
    assert b.next_error()["code"] == "NOT_JOINED"


def test_thirty_members_across_two_workers(start_worker):
    w1, w2 = start_worker(), start_worker()
    r = room()
    members = []
    for i in range(30):
        url = (w1 if i % 2 == 0 else w2).ws_url
        c, _ = joined(url, r, f"user{i}", action="create" if i == 0 else "join")
        members.append(c)
    last = members[-1].recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "user29")
    assert last["usersCount"] == 30
    members[3].chat(r, "from w2")
    members[4].chat(r, "from w1")
    orders = [[c.next_chat()["id"], c.next_chat()["id"]] for c in members]
    # Two senders race, but every member sees the one order Redis published, wherever it is.
    assert all(order == orders[0] for order in orders)
    assert len(set(orders[0])) == 2


def test_resume_has_no_gap_and_no_duplicate_under_concurrent_sends(start_worker, redis_server):
    w1, w2 = start_worker(), start_worker()
    r = room()
    sender, _ = joined(w1.ws_url, r, "sender", action="create")
    reader, _ = joined(w2.ws_url, r, "reader")
    for i in range(20):
        sender.chat(r, f"a{i}")
    seen = [reader.next_chat() for _ in range(20)]
    since = seen[9]["id"]
    reader.close()

    stop = threading.Event()
    sent = []

    def keep_sending():
        i = 0
        while not stop.is_set() and i < 400:
            sender.chat(r, f"b{i}")
            sent.append(f"b{i}")
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=keep_sending)
    t.start()
    time.sleep(0.1)
    again = Client(w2.ws_url)
    history = again.join(r, "reader", action="rejoin", since=since)
    assert history["recovered"] is True
    got = [m["id"] for m in history["messages"]]
    time.sleep(0.2)
    stop.set()
    t.join()
    # Everything after `since` in the stream must arrive exactly once, in order.
    expected = [e for e in redis_server.cli("XRANGE", f"stream:{redis_server.tag(r)}", f"({since}", "+").split("\n") if re.fullmatch(r"\d+-\d+", e)]
    while len(got) < len(expected):
        got.append(again.next_chat()["id"])
    assert got == expected
    assert len(set(got)) == len(got)


def test_resume_too_old_says_recovered_false(worker, redis_server):
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    for i in range(6):
        c.chat(r, f"m{i}")
    ids = [c.next_chat()["id"] for _ in range(6)]
    redis_server.cli("XTRIM", f"stream:{redis_server.tag(r)}", "MAXLEN", "2")
    d = Client(worker.ws_url)
    history = d.join(r, "alice", action="rejoin", since=ids[0])
    assert history["recovered"] is False
    assert [m["id"] for m in history["messages"]] == ids[-2:]


def test_resume_from_before_a_change_of_primary_says_recovered_false(worker, redis_server):
    """The failover marker (FailoverMarker, docs/architecture.md): the room records the
    replication id of the primary its joins ran on. Here the record is forged to name the node's
    previous primary (`master_replid2`), as after a replica's promotion: every position up to the
    stream's end becomes doubtful, since what followed it may have been lost with the old
    primary; positions written after that stay trusted."""
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    for i in range(2):
        c.chat(r, f"m{i}")
    ids = [c.next_chat()["id"] for _ in range(2)]
    key = f"room:{redis_server.tag(r)}:primary"
    assert re.fullmatch(r"[0-9a-f]{40}", redis_server.cli("HGET", key, "replid"))
    if getattr(redis_server, "is_cluster", False):
        replication = redis_server.node(redis_server.primary_for(key), "INFO", "replication")
    else:
        replication = redis_server.cli("INFO", "replication")
    previous = re.search(r"master_replid2:([0-9a-f]+)", replication).group(1)
    redis_server.cli("HSET", key, "replid", previous)

    for since in ids:  # before the marker, and at it (its successors may be what was lost)
        history = Client(worker.ws_url).join(r, "alice", action="rejoin", since=since)
        assert history["recovered"] is False
        assert [m["id"] for m in history["messages"]] == ids
    assert redis_server.cli("HGET", key, "doubtful") == ids[-1]
    c.chat(r, "m2")
    after = c.next_chat()["id"]
    history = Client(worker.ws_url).join(r, "alice", action="rejoin", since=ids[-1])
    assert history["recovered"] is False, "the mark stays"
    history = Client(worker.ws_url).join(r, "alice", action="rejoin", since=after)
    assert history["recovered"] is True and history["messages"] == []


def test_a_room_moved_from_an_unrelated_primary_is_doubted_only_without_a_cluster(worker, redis_server):
    """A record naming a primary the node never replicated from: in a cluster, the room's slot
    migrated here (nothing lost: the resume is trusted); on one node or under Sentinel keys never
    move, so it was a fault (the resume is told)."""
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    c.chat(r, "m0")
    since = c.next_chat()["id"]
    redis_server.cli("HSET", f"room:{redis_server.tag(r)}:primary", "replid", "ab" * 20)
    history = Client(worker.ws_url).join(r, "alice", action="rejoin", since=since)
    assert history["recovered"] is getattr(redis_server, "is_cluster", False), history


def test_the_presence_refresh_keeps_a_rooms_failover_record_as_long_as_the_room(start_worker, redis_server):
    """A room nobody joins for a whole room TTL while its members stay and chat must not lose the
    record of its primary (then a failover would be taken for its first sight)."""
    w = start_worker(ECHO_PRESENCE_TTL="3", ECHO_ROOM_TTL="3600")  # a refresh each second
    r = room()
    c, _ = joined(w.ws_url, r, "alice", action="create")
    key = f"room:{redis_server.tag(r)}:primary"
    assert int(redis_server.cli("TTL", key)) > 3000
    redis_server.cli("EXPIRE", key, 100)
    wait_for(lambda: int(redis_server.cli("TTL", key)) > 3000, timeout=5, what="the record's TTL renewed")
    c.close()


def test_room_events_in_redis_keep_their_wire_format(worker, redis_server):
    """The pub/sub payloads and stream entries every version of the worker reads (a rolling reload
    runs two versions on one Redis; a deployment keeps its streams): pinned as bytes."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
    from resp import Redis

    r = room()
    # In a cluster the send script uses sharded pub/sub, on the primary that owns the room's slot.
    prefix = "S" if redis_server.is_cluster else ""
    port = redis_server.primary_for(r) if redis_server.is_cluster else redis_server.port
    channel_name = f"room:{redis_server.tag(r)}".encode()
    with Redis(port) as sub:
        assert sub.call(prefix + "SUBSCRIBE", channel_name.decode()) == [prefix.lower().encode() + b"subscribe", channel_name, 1]
        a, _ = joined(worker.ws_url, r, "alice", action="create")
        kind, channel, join = sub._reply()
        assert (kind, channel) == (prefix.lower().encode() + b"message", channel_name)
        assert join.startswith(b'S{"sender":"System","message":"join","username":"alice"') and join.endswith(b',"usersCount":1}')
        a.chat(r, "hi", clientId="w1")
        frame = a.next_chat()
        _, _, chat = sub._reply()
    body = json.dumps({k: v for k, v in frame.items() if k not in ("type", "id", "messageId")}, separators=(",", ":"))
    assert chat == b"C" + frame["id"].encode() + b" " + body.encode()
    with Redis(port) as redis:
        assert redis.call("XRANGE", f"stream:{redis_server.tag(r)}", "-", "+") == [[frame["id"].encode(), [b"d", body.encode()]]]


def test_malformed_room_events_in_redis_are_skipped_not_fatal(worker, redis_server):
    """Whatever else writes to a room's channel or stream, the worker decodes what is Echo's and
    skips the rest: it stays up and every member keeps receiving."""
    r = room()
    a, _ = joined(worker.ws_url, r, "alice", action="create")
    a.chat(r, "before")
    before = a.next_chat()
    # An empty body once crashed the worker (the renderer stepped over a missing brace).
    for payload in ["C5-1 ", "C", "C5-1", "Cx-1 {}", "S", "Sx", "Z{}", ""]:
        redis_server.publish(f"room:{redis_server.tag(r)}", payload)
    for field, value in [("d", ""), ("d", "x"), ("x", "{}")]:
        redis_server.cli("XADD", f"stream:{redis_server.tag(r)}", "*", field, value)
    a.chat(r, "after")
    assert a.next_chat()["text"] == "after"
    assert worker.proc.poll() is None
    b, history = joined(worker.ws_url, r, "bob")
    assert [m["text"] for m in history["messages"]] == ["before", "after"]
    assert history["messages"][0]["id"] == before["id"]
    assert worker.proc.poll() is None


def test_client_id_makes_a_send_idempotent(worker, redis_server):
    r = room()
    a, _ = joined(worker.ws_url, r, "alice", action="create")
    b, _ = joined(worker.ws_url, r, "bob")
    a.chat(r, "once", clientId="retry-1")
    first = a.next_chat()
    # A retry of a message the sender already has is not stored again, nor sent again: it would
    # be a duplicate.
    a.chat(r, "once", clientId="retry-1")
    assert b.next_chat()["id"] == first["id"]
    b.chat(r, "marker")
    assert a.next_chat()["text"] == "marker"  # alice never saw a second "once"
    assert b.next_chat()["text"] == "marker"  # nor did bob
    assert redis_server.cli("XLEN", f"stream:{redis_server.tag(r)}") == "2"


def test_a_retry_from_a_new_connection_gets_the_stored_copy_it_never_saw(start_worker):
    w = start_worker(ECHO_HISTORY_LIMIT="2")
    r = room()
    a, _ = joined(w.ws_url, r, "alice", action="create")
    a.chat(r, "lost ack", clientId="old-1")
    stored = a.next_chat()
    for i in range(3):
        a.chat(r, f"later{i}")
        a.next_chat()
    a.close()
    # A fresh join (no since) gets the last 2 messages: the retried one is older than those.
    again, history = joined(w.ws_url, r, "alice")
    assert stored["id"] not in [m["id"] for m in history["messages"]]
    again.chat(r, "lost ack", clientId="old-1")
    assert again.next_chat()["id"] == stored["id"]


def test_rate_limit_is_a_token_bucket_per_ip(start_worker):
    w = start_worker(ECHO_RATE_LIMIT="60", ECHO_RATE_BURST="3")
    r = room()
    c, _ = joined(w.ws_url, r, "alice", action="create")
    for i in range(3):
        c.chat(r, f"m{i}")
    c.chat(r, "too many")
    error = c.next_error()
    assert error["code"] == "RATE_LIMITED" and 0 < error["retryAfterMs"] <= 1000
    # A forged X-Forwarded-For from an untrusted peer does not buy a new bucket.
    d = Client(w.ws_url, additional_headers={"X-Forwarded-For": "198.51.100.1"})
    d.join(r, "dave")
    d.chat(r, "spoof")
    assert d.next_error()["code"] == "RATE_LIMITED"
    time.sleep(1.1)
    c.chat(r, "refilled")
    assert c.recv_until(lambda f: f.get("text") == "refilled" or f.get("type") == "error")["text"] == "refilled"


def test_forwarded_for_is_believed_only_from_trusted_proxies(start_worker):
    w = start_worker(ECHO_RATE_LIMIT="60", ECHO_RATE_BURST="1", ECHO_TRUSTED_PROXIES="127.0.0.1")
    r = room()
    first = Client(w.ws_url, additional_headers={"X-Forwarded-For": "198.51.100.1"})
    first.join(r, "one", action="create")
    second = Client(w.ws_url, additional_headers={"X-Forwarded-For": "198.51.100.2"})
    second.join(r, "two")
    first.chat(r, "a")
    assert first.next_chat()["text"] == "a"
    second.chat(r, "b")  # another client behind the proxy: its own bucket
    assert second.recv_until(lambda f: f.get("text") == "b" or f.get("type") == "error").get("text") == "b"
    first.chat(r, "c")
    assert first.next_error()["code"] == "RATE_LIMITED"


def test_oversized_binary_and_invalid_utf8_frames_get_close_codes(start_worker):
    w = start_worker(ECHO_MAX_FRAME_BYTES=str(64 * 1024))
    big = RawWebSocket(w.port)
    assert big.status == 101
    big.send_frame(1, b"x" * (64 * 1024 + 1))
    assert big.read_close_code() == 1009
    binary = RawWebSocket(w.port)
    binary.send_frame(2, b"\x00\x01")
    assert binary.read_close_code() == 1003
    bad = RawWebSocket(w.port)
    bad.send_frame(1, b'{"type":"ping","x":"\xff\xfe"}')
    assert bad.read_close_code() == 1007
    # Fragmented messages are joined and held to the same limit.
    frag = RawWebSocket(w.port)
    frag.send_frame(1, b'{"type":', fin=False)
    frag.send_frame(0, b'"ping"}', fin=True)
    opcode, payload = frag.read_frame()
    assert opcode == 1 and json.loads(payload)["type"] == "pong"
    # The server is still up.
    assert http_get(w.base + "/health")[0] == 200


def test_disallowed_origin_is_refused_with_403(start_worker):
    w = start_worker(ECHO_ALLOWED_ORIGINS="https://chat.example.com")
    assert RawWebSocket(w.port, headers={"Origin": "https://evil.example.net"}).status == 403
    assert RawWebSocket(w.port, headers={"Origin": "https://chat.example.com"}).status == 101
    # The seed's dev setup connected to "/".
    assert RawWebSocket(w.port, path="/", headers={"Origin": "https://chat.example.com"}).status == 101
    # The request's own host stays allowed besides the list (RawWebSocket sends Host 127.0.0.1:port).
    assert RawWebSocket(w.port, headers={"Origin": f"http://127.0.0.1:{w.port}"}).status == 101


def test_origin_defaults_to_the_request_host(start_worker):
    w = start_worker()
    assert RawWebSocket(w.port, headers={"Origin": f"http://127.0.0.1:{w.port}"}).status == 101
    assert RawWebSocket(w.port, headers={"Origin": f"https://127.0.0.1:{w.port}"}).status == 101
    for origin in ["https://evil.example.net", f"http://127.0.0.1:{w.port + 1}", "null", f"ftp://127.0.0.1:{w.port}"]:
        assert RawWebSocket(w.port, headers={"Origin": origin}).status == 403, origin
    # No Origin: not a browser, allowed.
    assert RawWebSocket(w.port).status == 101
    # `*` allows any origin.
    anywhere = start_worker(ECHO_ALLOWED_ORIGINS="*")
    assert RawWebSocket(anywhere.port, headers={"Origin": "https://evil.example.net"}).status == 101


def test_slow_consumer_is_closed_and_counted(start_worker):
    w = start_worker(ECHO_OUTBOUND_LIMIT=str(256 * 1024), ECHO_MAX_FRAME_BYTES=str(8 * 1024 * 1024))
    r = room()
    sender, _ = joined(w.ws_url, r, "sender", action="create")
    slow = RawWebSocket(w.port, rcvbuf=4096)
    slow.send_frame(1, json.dumps({"type": "join", "payload": {"roomId": r, "username": "slow"}}).encode())
    # The sender sees the join before any image: each image frame is past this worker's 256 KiB
    # limit on its own, so a join line fanned out in the same batch, behind an unflushed image,
    # would close the sender as a slow consumer too (a sleep here was not enough under load).
    sender.recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "slow", timeout=10)
    image = "data:image/png;base64," + base64.b64encode(bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + b"\0" * (1024 * 1024)).decode()
    for _ in range(24):  # about 32 MB for the slow reader, far past kernel buffers and the limit
        sender.send("chat", roomId=r, image=image)
        sender.next_chat(timeout=10)

    def closed():
        _, _, body = http_get(w.admin_base + "/metrics")
        match = re.search(rb"^echo_slow_consumer_closes_total (\d+)", body, re.M)
        return match and int(match.group(1)) >= 1
    wait_for(closed, timeout=10, what="slow consumer close")
    sender.chat(r, "others unaffected")
    assert sender.next_chat()["text"] == "others unaffected"


def test_health_and_metrics(worker):
    # The public port says only ok or not; the detailed health and the metrics are on the admin listener.
    status, headers, body = http_get(worker.base + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert http_get(worker.base + "/metrics")[0] == 404
    status, headers, body = http_get(worker.admin_base + "/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["redis"] == "connected" and health["workers"] == 1
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    c.chat(r, "count me")
    c.next_chat()
    status, headers, text = http_get(worker.admin_base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for name in [b"echo_connections", b"echo_messages_in_total", b"echo_messages_out_total", b"echo_rooms",
                 b"echo_host_connections", b"echo_redis_up"]:
        assert re.search(rb"^" + name + rb"(\{[^}]*\})? \d+", text, re.M), name
    status, _, body = http_get(worker.admin_base + "/metrics?format=json")
    metrics = json.loads(body)
    assert metrics["connections"] >= 1 and metrics["rooms"] >= 1 and metrics["messagesIn"] >= 1


def test_redis_restart_under_a_connected_worker(start_worker):
    redis = RedisServer().start()
    try:
        w = start_worker(redis_url=redis.url)
        r = room()
        a, _ = joined(w.ws_url, r, "alice", action="create")
        b, _ = joined(w.ws_url, r, "bob")
        a.chat(r, "before")
        assert b.next_chat()["text"] == "before"
        redis.stop()
        wait_for(lambda: http_get(w.base + "/health")[0] == 503, what="/health 503 while Redis is down")
        a.chat(r, "while down", clientId="down-1")
        assert a.next_error()["code"] == "UNAVAILABLE"
        redis.start()
        wait_for(lambda: http_get(w.base + "/health")[0] == 200, timeout=15, what="/health 200 after Redis is back")
        # The worker resubscribed: a retry with the same clientId is stored once and delivered.
        a.chat(r, "while down", clientId="down-1")
        # Redis came back empty, so bob's position is gone and he is told (recovered:false); the
        # retried message comes with that history or after it, once.
        told = b.recv_until(lambda f: f.get("type") == "history", timeout=10)
        assert told["recovered"] is False
        texts = [m["text"] for m in told["messages"]]
        if "while down" not in texts:
            texts.append(b.next_chat(timeout=10)["text"])
        assert texts == ["while down"]
        assert redis.cli("XLEN", f"stream:{r}") == "1"
    finally:
        redis.stop()


def test_crashed_worker_leaves_no_ghost_members(start_worker):
    w1 = start_worker(ECHO_PRESENCE_TTL="3")
    w2 = start_worker(ECHO_PRESENCE_TTL="3")
    r = room()
    keeper, _ = joined(w1.ws_url, r, "keeper", action="create")
    ghost, _ = joined(w2.ws_url, r, "ghost")
    keeper.recv_until(lambda f: f.get("username") == "ghost")
    w2.proc.send_signal(signal.SIGKILL)
    w2.proc.wait()
    time.sleep(4)
    late, _ = joined(w1.ws_url, r, "late")
    event = keeper.recv_until(lambda f: f.get("sender") == "System" and f.get("username") == "late")
    assert event["usersCount"] == 2  # keeper and late; the ghost expired


def test_sigterm_closes_websockets_with_1001_and_exits_zero(start_worker):
    w = start_worker()
    r = room()
    c, _ = joined(w.ws_url, r, "alice", action="create")
    w.proc.send_signal(signal.SIGTERM)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            c.ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert w.proc.wait(10) == 0


def test_join_and_history_floods_are_limited_per_connection(worker):
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    for _ in range(40):
        c.send("history")
    frames = [c.recv_until(lambda f: f.get("type") in ("history", "error")) for _ in range(40)]
    codes = {f.get("code") for f in frames if f["type"] == "error"}
    assert codes == {"RATE_LIMITED"}
    assert 15 <= sum(f["type"] == "history" for f in frames) <= 25


def test_scripts_are_reloaded_after_the_script_cache_is_flushed(worker, redis_server):
    r = room()
    c, _ = joined(worker.ws_url, r, "alice", action="create")
    c.chat(r, "before flush")
    assert c.next_chat()["text"] == "before flush"
    assert set(redis_server.on_primaries("SCRIPT", "FLUSH").values()) == {"OK"}
    c.chat(r, "after flush")  # EVALSHA answers NOSCRIPT; the client falls back to EVAL
    assert c.next_chat()["text"] == "after flush"


def test_subscriber_reconnect_replays_what_it_missed(start_worker, redis_server):
    w1, w2 = start_worker(), start_worker()
    r = room()
    sender, _ = joined(w2.ws_url, r, "sender", action="create")
    reader, _ = joined(w1.ws_url, r, "reader")
    sender.chat(r, "warm-up")
    assert reader.next_chat()["text"] == "warm-up"
    # Drop every pub/sub connection: messages published before the workers resubscribe are not
    # delivered by Redis; the workers must read them from the streams.
    redis_server.on_primaries("CLIENT", "KILL", "TYPE", "pubsub")
    for i in range(30):
        sender.chat(r, f"gap{i}")
    texts = [reader.next_chat(timeout=10)["text"] for _ in range(30)]
    assert texts == [f"gap{i}" for i in range(30)]
    reader.send("ping")
    extra = reader.recv_until(lambda f: f.get("type") == "pong" or "text" in f)
    assert extra.get("type") == "pong", f"duplicate delivered: {extra}"


def test_a_taken_port_is_a_clear_failure_not_a_crash(start_worker):
    w = start_worker()
    second = start_worker(port=w.port, wait=False)
    assert second.proc.wait(15) == 1
    log = second.logs()
    assert "cannot listen" in log and "Address already in use" in log
    assert "Fatal error" not in log and "crashed" not in log


def test_a_hung_redis_times_out_and_recovers(start_worker):
    redis = RedisServer().start()
    try:
        w = start_worker(redis_url=redis.url, ECHO_REDIS_TIMEOUT_MS="500")
        r = room()
        a, _ = joined(w.ws_url, r, "alice", action="create")
        redis.proc.send_signal(signal.SIGSTOP)  # alive but silent: only a timeout can notice
        try:
            started = time.monotonic()
            a.chat(r, "into the void", clientId="hung-1")
            assert a.next_error(timeout=10)["code"] == "UNAVAILABLE"
            assert time.monotonic() - started < 5
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: http_get(w.base + "/health")[0] == 200, timeout=15, what="recovery after SIGCONT")
        # Redis ran the command it had buffered while stopped, or did not: the client cannot tell,
        # so it retries with the same clientId and must end with exactly one stored copy.
        a.chat(r, "into the void", clientId="hung-1")
        a.chat(r, "back", clientId="hung-2")
        seen = []
        while not seen or seen[-1]["text"] != "back":
            seen.append(a.next_chat(timeout=10))
        copies = {m["id"] for m in seen if m["clientId"] == "hung-1"}
        assert len(copies) == 1
        assert redis.cli("XLEN", f"stream:{r}") == "2"
    finally:
        redis.stop()


def test_every_key_echo_writes_expires(start_worker, redis_server):
    w = start_worker(ECHO_RATE_LIMIT="60")
    r = room()
    a, _ = joined(w.ws_url, r, "alice", action="create")
    b, _ = joined(w.ws_url, r, "bob")
    a.chat(r, "hello", clientId="ttl-1")
    hello = a.next_chat()
    a.send("react", messageId=hello["id"], emoji="👍")  # stored by its own script before the next chat's
    a.chat(r, "after the reaction")
    a.next_chat()
    b.send("leave", roomId=r)
    a.recv_until(lambda f: f.get("message") == "leave")
    t = redis_server.tag(r)
    keys = [k for found in redis_server.on_primaries("KEYS", f"*{r}*").values() for k in found.split("\n") if k]
    # The active-rooms index (Echo Chat's) gets the room with the worker's next presence tick
    # (100 ms), not with the join itself.
    deadline = time.monotonic() + 5
    while not redis_server.cli("ZSCORE", "active_rooms", r) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_server.cli("ZSCORE", "active_rooms", r), "the joined room never reached active_rooms"
    keys += ["active_rooms"]
    if redis_server.is_cluster:
        # The session and the chat rate limit carry the room's tag; each shard has an epoch.
        assert {f"session:{t}:{a.session_id}", f"rl:{t}:127.0.0.1"} <= set(keys)
        keys += [k for found in redis_server.on_primaries("KEYS", "echo:epoch*").values() for k in found.split("\n") if k]
    else:
        keys += ["rl:127.0.0.1", f"session:{a.session_id}", "echo:epoch"]
    assert {f"room:{t}:info", f"room:{t}:members", f"room:{t}:usernames", f"stream:{t}", f"cid:{t}:ttl-1",
            f"room:{t}:react:{hello['id']}"} <= set(keys)
    for key in keys:
        assert int(redis_server.cli("TTL", key)) > 0, f"{key} would live forever"


def test_session_frame_tells_the_client_the_configured_limits(start_worker):
    w = start_worker(ECHO_MAX_MESSAGE_LENGTH="321", ECHO_MAX_IMAGE_BYTES="65536", ECHO_RATE_LIMIT="90", ECHO_RATE_BURST="7")
    c = Client(w.ws_url)
    try:
        c.send("join", roomId=room(), username="alice", action="create")
        session = c.recv_until(lambda f: f.get("type") in ("session", "error"))
        assert session["limits"] == {"messageLength": 321, "imageBytes": 65536, "ratePerMinute": 90, "rateBurst": 7}, session
        # The numbers are the ones enforced: one character more is refused.
        c.chat(session["roomId"], "x" * 322)
        assert c.next_error()["code"] == "MESSAGE_TOO_LONG"
    finally:
        c.ws.close()
