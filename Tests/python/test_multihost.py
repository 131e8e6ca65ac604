"""Two Echo hosts as real hosts: each `echo --workers 2` in a network namespace of its own, Redis in
a third, the clients in a fourth, all plugged into one bridge (Tests/python/netns.py).

Members of rooms spread over both hosts chat with accounting (Tests/chaos: every client must hold
its room's exact sequence, or have been told `recovered:false`); one host's cable is pulled: its
clients notice by their own pings, reconnect to the other host and resume with `since`; the
cable is put back: the host serves again (healthy, and a newcomer on it chats with the rest).
Run with `-s` to see the figures.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import netns
from conftest import BIN_DIR, OUTPUT_DIR, PER_IP_LIMITS_OFF, http_get, wait_for
from fleet_truth import settle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from fleet import Fleet  # noqa: E402
from resp import Redis  # noqa: E402

pytestmark = pytest.mark.skipif(bool(why := netns.unavailable()), reason=why or "")

ECHO_PORT = 8080
REDIS_PORT = 6379
KEEPALIVE_S = 1.0  # the clients' ping interval and pong deadline: how fast a dead link is noticed


def start_redis(host: netns.Host) -> str:
    workdir = tempfile.mkdtemp(prefix="echo-mh-redis-")
    host.popen(["redis-server", "--bind", host.address, "--port", str(REDIS_PORT), "--protected-mode", "no",
                "--save", "", "--appendonly", "no", "--dir", workdir],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: host.run("redis-cli", "-h", host.address, "-p", str(REDIS_PORT), "PING").stdout.strip() == "PONG",
             what="redis-server in its namespace")
    return f"redis://{host.address}:{REDIS_PORT}"


def start_echo(host: netns.Host, redis_url: str):
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    log = open(OUTPUT_DIR / f"multihost-{host.name}.log", "wb")
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "HOST": host.address, "PORT": str(ECHO_PORT),
        "REDIS_URL": redis_url, "ECHO_RATE_LIMIT": "0", **PER_IP_LIMITS_OFF, "ECHO_STREAM_MAXLEN": "100000",
        # The default (/tmp/echo-UID-PORT) would be the same for both hosts: one filesystem.
        "RUNTIME_DIRECTORY": tempfile.mkdtemp(prefix=f"echo-mh-{host.name}-"),
    }
    host.popen([str(BIN_DIR / "echo"), "--workers", "2"], env=env, stdout=log, stderr=log)
    return log


def healthy(url: str) -> bool:
    try:
        return http_get(url + "/health", timeout=1)[0] == 200
    except OSError:
        return False


def steadily_healthy(url: str, times=6) -> bool:
    """Several answers in a row, so that each worker behind the shared port has likely answered."""
    return all(healthy(url) for _ in range(times))


def stream_key(r: Redis, room: str) -> str | None:
    """The room's stream, whatever the key layout names it (the only stream whose name holds the room id)."""
    cursor, found = b"0", []
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", f"*{room}*", "TYPE", "stream", "COUNT", 1000)
        found += keys
        if cursor in (b"0", 0, "0"):
            break
    return found[0].decode() if found else None


def read_stream(redis_host: str, room: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    with Redis(REDIS_PORT, host=redis_host) as r:
        key = stream_key(r, room)
        start = "-"
        while key:
            entries = r.call("XRANGE", key, start, "+", "COUNT", 2000) or []
            for entry_id, fields in entries:
                d = dict(zip(fields[::2], fields[1::2])).get(b"d", b"")
                out.append((entry_id.decode(), d))
            if len(entries) < 2000:
                break
            start = "(" + entries[-1][0].decode()
    return out


def current_url(client) -> str:
    return client.urls[(client._attempts - 1) % len(client.urls)]


async def newcomer_chats_with_the_rest(url: str, room: str, others) -> tuple[float, int]:
    """A new member on `url` joins `room`, says something (the others must receive it) and hears
    the room's next message. Returns how long its chat took to reach everyone, and how many joins
    it sent."""
    from websockets.asyncio.client import connect

    async with connect(url, open_timeout=5, compression=None) as ws:
        # The restored host may still hold a Redis connection that died unnoticed during the cut
        # (idle, so no command timed out): the first command on it times out and the join is
        # refused with UNAVAILABLE, which tells a client to try again, as this one does.
        for attempt in range(5):
            await ws.send(json.dumps({"type": "join", "payload": {"roomId": room, "username": "newcomer", "action": "join"}}))
            answer = await wait_frame(ws, lambda f: f.get("type") == "history" or f.get("type") == "error")
            if answer["type"] == "history":
                break
            assert answer.get("code") == "UNAVAILABLE", answer
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the restored host refused the newcomer's join five times")
        text = f"hello from the restored host {uuid.uuid4().hex[:6]}"
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "chat", "payload": {"roomId": room, "message": text, "clientId": "newcomer-1"}}))
        mine = await wait_frame(ws, lambda f: f.get("clientId") == "newcomer-1")
        # And the rest of the room (on the other host by now) gets it.
        for _ in range(100):
            if all(mine["id"] in {i for seg in c.log.segments for i in seg.ids} for c in others):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the newcomer's chat did not reach every member")
        reached = time.monotonic() - sent
        # And it hears them: the room's senders keep talking.
        await wait_frame(ws, lambda f: isinstance(f.get("id"), str) and f.get("sender") not in ("System", "newcomer"))
        return reached, attempt + 1


async def wait_frame(ws, predicate, timeout=20.0) -> dict:
    seen: list[dict] = []

    async def loop():
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame
            seen.append(frame)
    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"no awaited frame in {timeout} s; the frames that came: {seen[-10:]}") from None


async def scenario(lan: netns.Lan, redis: netns.Host, cut: netns.Host, kept: netns.Host, clients: netns.Host):
    urls = [f"ws://{h.address}:{ECHO_PORT}/ws" for h in (cut, kept)]
    # Per room: a sender and a member that stays on each host, and a member that hangs up every
    # 2-4 s and resumes; everyone reconnects to the next host of the two when its connection dies.
    fleet = Fleet(urls, rooms=3, senders=2, members=2, resumers=1, send_interval=0.1, max_pending=64,
                  resume_every=(2.0, 4.0), source_ip=clients.address, tag="mh", keepalive=KEEPALIVE_S)
    figures = {}
    try:
        await fleet.start(join_timeout=30)
        await asyncio.sleep(2.0)
        on_cut = [c for c in fleet.clients if current_url(c) == urls[0] and c.joined.is_set()]
        connects = {c.log.name: c.log.connects for c in on_cut}
        assert on_cut, "nobody was on the host to cut"

        await asyncio.to_thread(cut.cut)
        cut_at = time.monotonic()

        def moved(c):
            return c.log.connects > connects[c.log.name] and current_url(c) == urls[1] and c.joined.is_set()
        # Each client counts once it has been seen joined on the other host: a resumer goes on
        # hanging up and trying both hosts in turn, so the clients need not all be there at once.
        moved_at: dict[str, float] = {}
        while len(moved_at) < len(on_cut):
            for c in on_cut:
                if c.log.name not in moved_at and moved(c):
                    moved_at[c.log.name] = time.monotonic() - cut_at
            stuck = [(c.log.name, c.log.connects - connects[c.log.name], current_url(c), c.joined.is_set())
                     for c in on_cut if c.log.name not in moved_at]
            assert time.monotonic() - cut_at < 20, f"the cut host's clients did not all resume on the other host: (name, reconnects, url, joined) {stuck}"
            await asyncio.sleep(0.05)
        figures["moved_s"] = round(max(moved_at.values()), 2)
        figures["moved_clients"] = len(on_cut)
        await asyncio.sleep(2.0)  # chat on one host only

        await asyncio.to_thread(cut.restore)
        restored_at = time.monotonic()
        while not await asyncio.to_thread(steadily_healthy, f"http://{cut.address}:{ECHO_PORT}"):
            assert time.monotonic() - restored_at < 20, "the restored host never became healthy"
            await asyncio.sleep(0.2)
        figures["healthy_again_s"] = round(time.monotonic() - restored_at, 2)
        room = fleet.rooms[-1]
        members = [c for c in fleet.clients if c.log.room == room]
        reached, joins = await newcomer_chats_with_the_rest(urls[0], room, members)
        figures["newcomer_reach_s"], figures["newcomer_joins"] = round(reached, 3), joins
        await asyncio.sleep(1.0)

        await settle(fleet, lambda room: read_stream(redis.address, room))
        return fleet.summary(), figures
    finally:
        await fleet.close()


def test_two_hosts_one_cut_and_restored():
    started = time.monotonic()
    with netns.Lan(subnet=1) as lan:
        redis = lan.add_host("redis", 2)
        hosts = [lan.add_host("h1", 11), lan.add_host("h2", 12)]
        clients = lan.add_host("clients", 100)
        redis_url = start_redis(redis)
        logs = [start_echo(h, redis_url) for h in hosts]
        try:
            for h in hosts:
                clients.call(wait_for, lambda: steadily_healthy(f"http://{h.address}:{ECHO_PORT}", 2), timeout=30,
                             what=f"echo on {h.name}")
            summary, figures = clients.call(asyncio.run, scenario(lan, redis, hosts[0], hosts[1], clients))
        finally:
            lan.close()
            for log in logs:
                log.close()
    figures["total_s"] = round(time.monotonic() - started, 1)
    print("\n[two hosts, h1's cable pulled and put back] "
          + ", ".join(f"{k}={v}" for k, v in {**summary.figures(), **figures}.items()))
    for line in summary.examples + summary.violations:
        print("  ", line)
    assert summary.violations == [], summary.violations
    assert summary.lost == 0 and summary.duplicated == 0 and summary.out_of_order == 0, summary.examples
    assert summary.phantom == 0 and summary.unconfirmed == 0 and summary.stored_twice == [], summary.examples
    # Redis lost nothing, so every resume found its position: nobody needed to be told.
    assert summary.recovered_false == 0
    assert summary.resumes >= figures["moved_clients"]
    assert summary.delivered > 0 and summary.confirmed > 0
