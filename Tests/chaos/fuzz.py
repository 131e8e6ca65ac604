"""Fuzzing a real worker over its socket: mutated JSON requests, mangled WebSocket frames and
hostile HTTP. The worker must never crash (same pids throughout, /health ok, a normal client can
still chat), never hang (each complete input gets an answer; an incomplete one is closed by the
server's timeouts), and keep its memory bounded.

Inputs in flight when a worker died, and inputs that hung, are saved under
.test-output/chaos/fuzz-findings/ (reproducers worth keeping go to Tests/chaos/corpus/).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
from pathlib import Path

import rawio
from client import AccountingClient
from harness import OUTPUT_DIR, EchoProc, RedisProc
from rawio import frame
from scenario import Row

# Findings of a run go to the test output; curated reproducers live in Tests/chaos/corpus.
CORPUS_DIR = OUTPUT_DIR / "fuzz-findings"
PING = rawio.text({"type": "ping"})
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
SEEDS = [
    {"type": "join", "payload": {"roomId": "fuzz-room", "username": "fuzzer", "action": "create"}},
    {"type": "join", "payload": {"roomId": "fuzz-room", "username": "fuzzer", "action": "rejoin", "since": "1700000000000-0"}},
    {"type": "chat", "payload": {"roomId": "fuzz-room", "message": "hello", "clientId": "c-1"}},
    {"type": "chat", "payload": {"roomId": "fuzz-room", "image": PNG, "clientId": "c-2"}},
    {"type": "chat", "payload": {"message": "re", "replyTo": {"messageId": "1700000000000-0", "sender": "a", "preview": "p", "isImage": False}}},
    {"type": "history"},
    {"type": "leave", "payload": {"roomId": "fuzz-room"}},
    {"type": "ping"},
    {"type": "join", "roomId": "fuzz-room", "username": "top-level"},
]
ODD_VALUES = [None, True, 0, -1, 2**63, 1e308, "", "x" * 3000, "\ud800", "\u0000", "<script>", [], {}, [[[]]],
              {"a": {"b": {"c": []}}}, "1700000000000-0", "../", "😀" * 40, "data:image/png;base64,!!!!"]


def mutate_json(rng: random.Random) -> bytes:
    seed = json.loads(json.dumps(rng.choice(SEEDS)))
    choice = rng.random()
    if choice < 0.4:  # structure-aware: replace, drop or add a field somewhere
        target = seed.get("payload", seed) if rng.random() < 0.7 else seed
        keys = list(target.keys()) + ["type", "roomId", "username", "message", "image", "since", "clientId", "replyTo", "action"]
        k = rng.choice(keys)
        if rng.random() < 0.2:
            target.pop(k, None)
        else:
            target[k] = rng.choice(ODD_VALUES)
        return json.dumps(seed, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    data = bytearray(json.dumps(seed).encode())
    for _ in range(rng.randint(1, 8)):  # byte-level
        op = rng.random()
        i = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif op < 0.5:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op < 0.7 and data:
            del data[i:i + rng.randint(1, 10)]
        elif op < 0.85:
            data[i:i] = rng.choice([b"{", b"[", b'"', b"\\u", b"\\", b"}", b"]", b":", b","]) * rng.randint(1, 2000)
        else:
            j = rng.randrange(len(data) + 1)
            data[i:i] = data[min(i, j):max(i, j)]
    return bytes(data)


def random_frame(rng: random.Random, payload: bytes) -> tuple[bytes, bool]:
    """A mangled frame; returns (bytes, complete) — complete when its declared length is honest."""
    op = rng.choice([0, 1, 1, 1, 2, 3, 7, 8, 9, 10, 11, 15])
    fin = rng.random() < 0.8
    rsv = rng.choice([0, 0, 0, 1, 2, 4, 7])
    masked = rng.random() < 0.9
    if rng.random() < 0.15:
        lie = rng.choice([len(payload) + rng.randint(1, 100), 2**16, 2**31, 2**63 - 1, 6 * 2**20])
        return frame(op, payload, fin=fin, rsv=rsv, masked=masked, length=lie), False
    if op in (8, 9, 10) and rng.random() < 0.5:
        payload = payload[:125] if rng.random() < 0.7 else payload * 3
    return frame(op, payload, fin=fin, rsv=rsv, masked=masked), True


def hostile_http(rng: random.Random, port: int) -> tuple[bytes, bool]:
    base = rawio.handshake(port) if rng.random() < 0.5 else f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    data = bytearray(base)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        i = rng.randrange(len(data))
        if op < 0.3:
            data[i] = rng.randrange(256)
        elif op < 0.5:
            data[i:i] = rng.choice([b"\r\n", b":", b" ", b"\x00", b"\n", b"HTTP/1.1", b"Upgrade: websocket\r\n",
                                    b"Content-Length: 99999999\r\n", b"Transfer-Encoding: chunked\r\n"])
        elif op < 0.7:
            data[i:i] = b"X-Fuzz: " + b"a" * rng.choice([10, 1000, 70000]) + b"\r\n"
        else:
            del data[i:i + rng.randint(1, 20)]
    complete = bytes(data).endswith(b"\r\n\r\n") and b"Content-Length: 99999999" not in data and b"chunked" not in data
    return bytes(data), complete


class Fuzzer:
    def __init__(self, echo: EchoProc, seed: int, answer_timeout: float, stall_timeout: float):
        self.echo = echo
        self.rng = random.Random(seed)
        self.answer_timeout = answer_timeout
        self.stall_timeout = stall_timeout
        self.cases = 0
        self.outcomes: dict[str, int] = {}
        self.hangs: list[bytes] = []
        self.recent: list[bytes] = []

    def note(self, kind: str, data: bytes):
        self.cases += 1
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        self.recent = (self.recent + [data])[-200:]

    async def one(self):
        r = self.rng.random()
        if r < 0.55:
            await self.json_session()
        elif r < 0.85:
            await self.frame_case()
        else:
            await self.http_case()

    async def _answer(self, reader, timeout) -> str:
        """Reads until a pong, a close frame or EOF: 'pong' | 'close' | 'eof' | 'hang'."""
        try:
            while True:
                op, data = await rawio.read_frame(reader, timeout)
                if op == 8:
                    return "close"
                if op == 1 and b'"pong"' in data:
                    return "pong"
        except asyncio.TimeoutError:
            return "hang"
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return "eof"

    async def json_session(self):
        """A few mutated requests in one well-framed connection, then a ping that must be answered."""
        reader, writer = await rawio.upgrade(self.echo.port)
        try:
            sent = b""
            writer.write(rawio.text(SEEDS[0]))
            for _ in range(self.rng.randint(1, 10)):
                payload = mutate_json(self.rng)
                writer.write(frame(1, payload))
                sent += payload + b"\n"
            writer.write(PING)
            await writer.drain()
            outcome = await self._answer(reader, self.answer_timeout)
            self.note(f"json:{outcome}", sent)
            if outcome == "hang":
                self.hangs.append(b"json\n" + sent)
        finally:
            writer.transport.abort()

    async def frame_case(self):
        reader, writer = await rawio.upgrade(self.echo.port)
        try:
            data, complete = b"", True
            for _ in range(self.rng.randint(1, 4)):
                payload = mutate_json(self.rng) if self.rng.random() < 0.6 else os.urandom(self.rng.randint(0, 300))
                f, ok = random_frame(self.rng, payload)
                data += f
                complete = complete and ok
                if not ok:
                    break
            writer.write(data + PING)
            await writer.drain()
            # A frame that lies about its length keeps the server waiting for bytes that never come:
            # only its timeouts (pings) can end that.
            outcome = await self._answer(reader, self.answer_timeout if complete else self.stall_timeout)
            self.note(f"frame{'' if complete else '-incomplete'}:{outcome}", data)
            if outcome == "hang":
                self.hangs.append(b"frame\n" + data)
        finally:
            writer.transport.abort()

    async def http_case(self):
        data, complete = hostile_http(self.rng, self.echo.port)
        reader, writer = await rawio.open_conn(self.echo.port)
        try:
            writer.write(data)
            await writer.drain()
            try:
                got = await asyncio.wait_for(reader.read(1), self.answer_timeout if complete else self.stall_timeout)
                outcome = "answer" if got else "eof"
            except asyncio.TimeoutError:
                outcome = "hang"
            except (ConnectionError, OSError):
                outcome = "eof"
            self.note(f"http{'' if complete else '-incomplete'}:{outcome}", data)
            if outcome == "hang":
                self.hangs.append(b"http\n" + data)
        finally:
            writer.transport.abort()


async def can_chat(echo: EchoProc) -> bool:
    c = AccountingClient(echo.ws_url, "fuzz-check", "checker", role="sender", send_interval=0.2)
    task = asyncio.create_task(c.run())
    try:
        await asyncio.wait_for(c.joined.wait(), 10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(p.confirmed_id for p in c.log.sent.values()):
                return True
            await asyncio.sleep(0.2)
        return False
    except asyncio.TimeoutError:
        return False
    finally:
        c.stopped.set()
        await asyncio.wait([task], timeout=5)


async def fuzz_socket(seconds: float, concurrency: int = 12, seed: int | None = None) -> Row:
    seed = seed if seed is not None else int(time.time())
    row = Row("fuzz", f"fuzzing frames, JSON and HTTP over the socket for {seconds:.0f} s (seed {seed})")
    started = time.monotonic()
    redis = RedisProc(name="redis-fuzz").start()
    # Pings every 5 s: a connection stalled by a frame that lies about its length is closed after
    # two silent intervals, so "never hangs" is checkable in seconds.
    echo = EchoProc(redis, workers=2, name="echo-fuzz", env={"ECHO_PING_INTERVAL": "5"})
    failures = []
    try:
        echo.wait_healthy(timeout=60, workers=2)
        pids = set(echo.worker_pids())
        fuzzer = Fuzzer(echo, seed, answer_timeout=10.0, stall_timeout=25.0)
        peak_rss = 0
        crashes = 0
        end = time.monotonic() + seconds

        async def lane():
            while time.monotonic() < end:
                try:
                    await fuzzer.one()
                except Exception as e:  # a refused connect is an outcome too
                    fuzzer.note(f"error:{type(e).__name__}", b"")

        async def watch():
            nonlocal peak_rss, crashes, pids
            while time.monotonic() < end:
                now = set(echo.worker_pids())
                if not pids <= now:
                    crashes += 1
                    out = CORPUS_DIR / f"crash-{int(time.time())}"
                    out.mkdir(parents=True, exist_ok=True)
                    for i, data in enumerate(fuzzer.recent):
                        (out / f"input-{i:03d}.bin").write_bytes(data)
                    pids = now
                peak_rss = max([peak_rss, *echo.rss_bytes().values()])
                await asyncio.sleep(1)

        await asyncio.gather(watch(), *(lane() for _ in range(concurrency)))
        if crashes:
            failures.append(f"{crashes} worker crashes (inputs under {CORPUS_DIR})")
        if fuzzer.hangs:
            out = CORPUS_DIR / f"hangs-{seed}"
            out.mkdir(parents=True, exist_ok=True)
            for i, data in enumerate(fuzzer.hangs[:50]):
                (out / f"hang-{i:03d}.bin").write_bytes(data)
            failures.append(f"{len(fuzzer.hangs)} inputs got no answer and were not closed (saved under {out.name})")
        if not echo.alive() or not echo.healthy():
            failures.append("/health not ok after fuzzing")
        if not await can_chat(echo):
            failures.append("a normal client could not chat after fuzzing")
        if peak_rss > 512 * 2**20:
            failures.append(f"a worker reached {peak_rss / 2**20:.0f} MiB")
        row.saw = f"{fuzzer.cases} inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(fuzzer.outcomes.items()))
        row.sent = str(fuzzer.cases)
        row.details.append(f"worker peak RSS {peak_rss / 2**20:.0f} MiB; crashes {crashes}; hangs {len(fuzzer.hangs)}")
        row.recover = "–"
    except Exception as e:
        failures.append(f"harness error {type(e).__name__}: {e}")
    finally:
        echo.stop()
        redis.cleanup()
        row.seconds = time.monotonic() - started
        row.details.append(f"logs: {echo.log_path}")
    row.ok = not failures
    row.verdict = "pass" if row.ok else "FAIL: " + "; ".join(failures)
    return row
