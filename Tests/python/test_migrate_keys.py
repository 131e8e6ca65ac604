"""Issue 12, the upgrade path: `echo migrate-keys` copies a one-node Redis that Echo filled in
today's key layout into a Redis Cluster in the tagged layout, and Echo started on the cluster
serves the same history with the same ids: a resume from a position taken before the move
replays exactly the messages after it, a retried clientId is still recognised, and running the
migration again copies nothing twice."""
from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from conftest import BIN_DIR, RedisServer, wait_for
from wsclient import Client, author_key, join_announcing

ROOMS = 6
MESSAGES = 12
DORA_KEY = author_key()


def scores(reply: str) -> dict[str, int]:
    """A ZRANGE ... WITHSCORES reply from redis-cli as member -> score."""
    items = [line for line in reply.split("\n") if line]
    return {items[i]: int(float(items[i + 1])) for i in range(0, len(items), 2)}


def room() -> str:
    return "m" + uuid.uuid4().hex[:12]


def joined(url, room_id, name, action="join", **kw):
    c = Client(url)
    history = c.join(room_id, name, action=action, **kw)
    assert history.get("type") == "history", history
    return c, history


def migrate(*args, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(BIN_DIR / "echo"), "migrate-keys", *args], capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def counts(output: str) -> dict[str, tuple[int, int]]:
    """`kind copied=N existing=M` (or `to-copy=N` in a dry run) lines as {kind: (N, M)}."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"(\w+) (?:copied|to-copy)=(\d+) existing=(\d+)", line)
        if m:
            found[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return found


def field(output: str, name: str) -> int:
    m = re.search(rf"\b{name}=(\d+)", output)
    assert m, output
    return int(m.group(1))


def legacy_counts(source) -> dict[str, int]:
    """What the source holds, by the kinds migrate-keys reports."""
    keys = [k for k in source.cli("KEYS", "*").splitlines() if k]
    kinds = {"stream": 0, "members": 0, "usernames": 0, "info": 0, "reactions": 0, "moderation": 0, "dedupe": 0, "session": 0, "index": 0, "secret": 0}
    for k in keys:
        if k.startswith("stream:"):
            kinds["stream"] += 1
        elif re.fullmatch(r"room:[^:]+:(members|usernames|info|moderation)", k):
            kinds[k.rsplit(":", 1)[1]] += 1
        elif re.fullmatch(r"room:[^:]+:react:\d+-\d+", k):
            kinds["reactions"] += 1
        elif k.startswith("cid:"):
            kinds["dedupe"] += 1
        elif k.startswith("session:"):
            kinds["session"] += 1
        elif k == "active_rooms":
            kinds["index"] += 1
        elif k == "echo:author-secret":
            kinds["secret"] += 1
    return kinds


@pytest.fixture
def source():
    """A one-node Redis of this test's own (the session's may be a cluster under `make test`)."""
    server = RedisServer().start()
    yield server
    server.stop()


def test_migrate_keys_moves_history_to_a_cluster_with_the_same_ids(source, redis_cluster, start_echo):
    cluster = redis_cluster
    old = start_echo(workers=2, redis_url=source.url)
    rooms = [room() for _ in range(ROOMS)]
    ids: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    stayers = []
    for r in rooms:
        a, _ = joined(old.ws_url, r, "alice", action="create")
        b, _ = joined(old.ws_url, r, "bob")
        for i in range(MESSAGES):
            a.chat(r, f"{r} message {i}", clientId=f"{r}-c{i}")
        got = [b.next_chat() for _ in range(MESSAGES)]
        ids[r] = [m["id"] for m in got]
        texts[r] = [m["text"] for m in got]
        a.close()
        stayers.append(b)  # still in the room: presence to migrate
    # A message by an author (an authorKey): she may delete it after the move.
    dora, _, _ = join_announcing(old.ws_url, rooms[1], "dora", features=["edit"], authorKey=DORA_KEY)
    dora.chat(rooms[1], "dora was here")
    doras_message = dora.recv_until(lambda f: f.get("type") == "chat" and f.get("text") == "dora was here")["id"]
    stayers[1].recv_until(lambda f: f.get("type") == "chat" and f.get("text") == "dora was here")
    ids[rooms[1]].append(doras_message)
    texts[rooms[1]].append("dora was here")
    dora.close()
    # A reaction (bob announced no features: he may react, and is sent no react frame): its hash
    # beside the stream moves too.
    reacted = f"room:{rooms[0]}:react:{ids[rooms[0]][0]}"
    stayers[0].send("react", messageId=ids[rooms[0]][0], emoji="👍")
    wait_for(lambda: source.cli("EXISTS", reacted) == "1", what="the reaction stored")
    # The rooms land on every shard.
    assert len({cluster.primary_for(f"stream:{{{r}}}") for r in rooms}) >= 2

    expected = legacy_counts(source)
    assert expected["stream"] == ROOMS and expected["dedupe"] == ROOMS * MESSAGES and expected["members"] == ROOMS
    assert expected["reactions"] == 1
    # Every worker made or read the authorship secret at start.
    assert expected["secret"] == 1

    # A dry run counts and writes nothing.
    dry = migrate("--from", source.url, "--to", cluster.url, "--dry-run")
    assert "dry run" in dry.stdout
    assert {kind: n for kind, (n, _) in counts(dry.stdout).items()} == expected, dry.stdout
    assert all(cluster.node(p, "DBSIZE") == "0" for p in cluster.primaries())

    run = migrate("--from", source.url, "--to", cluster.url)
    assert {kind: n for kind, (n, _) in counts(run.stdout).items()} == expected, run.stdout
    assert field(run.stdout, "entries") == ROOMS * MESSAGES + 2  # dora's message, the reaction's entry
    assert cluster.cli("HGETALL", "room:{" + rooms[0] + "}:react:" + ids[rooms[0]][0]) == source.cli("HGETALL", reacted)
    assert int(cluster.cli("TTL", "room:{" + rooms[0] + "}:react:" + ids[rooms[0]][0])) > 0
    assert field(run.stdout, "vanished") == 0

    for r in rooms:
        tag = "{" + r + "}"
        # The stream, entry for entry, IDs included; presence and names; TTLs kept.
        assert cluster.cli("XRANGE", f"stream:{tag}", "-", "+") == source.cli("XRANGE", f"stream:{r}", "-", "+")
        # The same members; the old worker, still serving them, may have refreshed a presence
        # score on the source since the copy, never moved one back.
        copied = scores(cluster.cli("ZRANGE", f"room:{tag}:members", 0, -1, "WITHSCORES"))
        now = scores(source.cli("ZRANGE", f"room:{r}:members", 0, -1, "WITHSCORES"))
        assert copied.keys() == now.keys() and copied, (copied, now)
        assert all(copied[m] <= now[m] for m in copied), (copied, now)
        assert cluster.cli("HGETALL", f"room:{tag}:usernames") == source.cli("HGETALL", f"room:{r}:usernames")
        assert cluster.cli("GET", f"cid:{tag}:{r}-c3") == ids[r][3]
        # The copy expires when the original does: RESTORE took the PTTL read just before it,
        # so the copy may outlive it by the time between that read and the write (< 1 s).
        kept = int(source.cli("PTTL", f"stream:{r}"))
        assert 0 < int(cluster.cli("PTTL", f"stream:{tag}")) <= kept + 1000
        assert int(cluster.cli("TTL", f"room:{tag}:info")) > 0
        # Every key of the room sits on the one shard that owns the room's slot.
        owner = cluster.primary_for(f"stream:{tag}")
        assert cluster.node(owner, "EXISTS", f"stream:{tag}", f"room:{tag}:members", f"room:{tag}:info") == "3"
    for c in stayers:
        c.close()
    old.stop()

    # Echo on the cluster: the same history, the same ids.
    new = start_echo(workers=2, redis_url=cluster.url)
    for r in rooms:
        # A plain join (the room must exist: its info key came along) gets the whole history.
        fresh, history = joined(new.ws_url, r, "carol")
        assert [m["id"] for m in history["messages"]] == ids[r]
        assert [m["text"] for m in history["messages"]] == texts[r]
        # A resume from a position taken on the old Redis replays exactly what came after it.
        resumed = Client(new.ws_url)
        again = resumed.join(r, "bob", action="rejoin", since=ids[r][4])
        assert again["recovered"] is True, again
        assert [m["id"] for m in again["messages"]] == ids[r][5:]
        # A retry of a message stored before the move is still recognised: nothing stored twice.
        length = int(cluster.cli("XLEN", "stream:{" + r + "}"))
        fresh.chat(r, f"{r} message 2", clientId=f"{r}-c2")
        fresh.chat(r, f"{r} after the move", clientId=f"{r}-new")
        after = resumed.next_chat()
        assert after["text"] == f"{r} after the move"
        assert after["id"] > ids[r][-1]
        assert int(cluster.cli("XLEN", "stream:{" + r + "}")) == length + 1
        fresh.close()
        resumed.close()
    # The authorship secret came along: the author of a message written before the move (the same
    # authorKey) may still delete it on the cluster.
    assert cluster.cli("GET", "echo:author-secret") == source.cli("GET", "echo:author-secret")
    author, _, _ = join_announcing(new.ws_url, rooms[1], "dora", action="rejoin", features=["edit"], authorKey=DORA_KEY)
    author.send("delete", messageId=doras_message)
    deleted = author.recv_until(lambda f: f.get("type") in ("delete", "error"))
    assert deleted["type"] == "delete" and deleted["messageId"] == doras_message, deleted
    author.close()
    # The reaction is still there, for a member that asks for reactions.
    featured, _, featured_history = join_announcing(new.ws_url, rooms[0], "erin", features=["react"])
    assert featured_history["messages"][0]["reactions"] == {"👍": ["bob"]}
    featured.close()

    # Again: everything is already there, and what Echo wrote on the cluster since stays.
    rerun = migrate("--from", source.url, "--to", cluster.url)
    found = counts(rerun.stdout)
    assert all(copied == 0 for copied, _ in found.values()), rerun.stdout
    assert found["stream"] == (0, ROOMS)
    for r in rooms:
        assert int(cluster.cli("XLEN", "stream:{" + r + "}")) == MESSAGES + 1 + (r == rooms[0]) + (r == rooms[1])


def test_migrate_keys_refuses_what_it_cannot_migrate(source, redis_cluster):
    cluster = redis_cluster
    # The target must be a cluster.
    out = migrate("--from", source.url, "--to", source.url, check=False)
    assert out.returncode != 0 and "Redis Cluster" in out.stderr
    out = migrate("--from", source.url, "--to", f"redis+cluster://127.0.0.1:{source.port}/", check=False)
    assert out.returncode != 0 and "not a Redis Cluster node" in out.stderr, out.stderr
    # The source must be one Redis in today's layout: not a cluster node, not tagged already.
    out = migrate("--from", f"redis://127.0.0.1:{cluster.primaries()[0]}", "--to", cluster.url, check=False)
    assert out.returncode != 0 and "Redis Cluster node" in out.stderr, out.stderr
    source.cli("XADD", "stream:{done}", "*", "d", "{}")
    out = migrate("--from", source.url, "--to", cluster.url, check=False)
    assert out.returncode != 0 and "already uses the tagged layout" in out.stderr, out.stderr
    assert all(cluster.node(p, "DBSIZE") == "0" for p in cluster.primaries())


def test_migrate_keys_from_the_embedded_redis_as_operations_md_says(redis_cluster, start_echo, tmp_path):
    """docs/operations.md: stop Echo, start a redis-server on the embedded Redis's data directory,
    migrate from it. What the embedded Redis wrote (its append-only file) reaches the cluster."""
    cluster = redis_cluster
    state = tmp_path / "state"
    old = start_echo(workers=1, redis_url=None, args=["--runtime-dir", str(tmp_path / "run")], STATE_DIRECTORY=str(state))
    r = room()
    a, _ = joined(old.ws_url, r, "alice", action="create")
    b, _ = joined(old.ws_url, r, "bob")
    for i in range(MESSAGES):
        a.chat(r, f"{r} message {i}", clientId=f"{r}-c{i}")
    ids = [b.next_chat()["id"] for _ in range(MESSAGES)]
    a.close()
    b.close()
    old.stop()  # SIGTERM: the embedded redis-server stops with it, its append-only file flushed

    data = RedisServer()
    data.proc = subprocess.Popen(
        ["redis-server", "--dir", str(state / "redis"), "--appendonly", "yes", "--port", str(data.port),
         "--bind", "127.0.0.1", "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: data.cli("XLEN", f"stream:{r}") == str(MESSAGES), what="the embedded Redis's data, loaded")
        run = migrate("--from", data.url, "--to", cluster.url)
        assert counts(run.stdout)["stream"] == (1, 0), run.stdout
        assert field(run.stdout, "entries") == MESSAGES
    finally:
        data.stop()

    new = start_echo(workers=1, redis_url=cluster.url)
    resumed = Client(new.ws_url)
    again = resumed.join(r, "bob", action="rejoin", since=ids[3])
    assert again["recovered"] is True, again
    assert [m["id"] for m in again["messages"]] == ids[4:]
    resumed.close()
