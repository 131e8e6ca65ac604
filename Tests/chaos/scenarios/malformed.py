"""Malformed WebSocket frames and HTTP requests, each with the answer docs/protocol.md promises,
sent while a fleet chats: every case gets its answer, no worker restarts, the fleet loses nothing."""
from __future__ import annotations

import asyncio
import json

import rawio
from rawio import frame
from scenario import Row, Settings, run_fault

PING = rawio.text({"type": "ping"})
ANSWER_TIMEOUT = 8.0

# (name, bytes after the handshake, acceptable outcomes). Outcomes: ("close", code), ("error", code),
# ("pong",), ("eof",) when the server hung up without a close frame.
WS_CASES = [
    ("binary frame", frame(2, b"\x00\x01"), {("close", 1003)}),
    ("invalid UTF-8 text", frame(1, b'{"type":"ping","x":"\xff\xfe"}'), {("close", 1007)}),
    ("declared 6 MiB frame", frame(1, b"", length=6 * 2**20), {("close", 1009), ("eof",)}),
    ("unmasked frame", frame(1, b'{"type":"ping"}', masked=False), {("close", 1002), ("eof",)}),
    ("RSV1 set", frame(1, b'{"type":"ping"}', rsv=4), {("close", 1002), ("eof",)}),
    ("reserved opcode 3", frame(3, b"x") + PING, {("close", 1002), ("eof",)}),
    ("fragmented ping", frame(9, b"x", fin=False), {("close", 1002), ("eof",)}),
    ("ping over 125 bytes", frame(9, b"x" * 200), {("close", 1002), ("eof",)}),
    ("continuation first", frame(0, b"x"), {("close", 1002)}),
    ("text inside a fragmented message", frame(1, b"{", fin=False) + frame(1, b"{}"), {("close", 1002)}),
    ("close with a 1-byte payload", frame(8, b"\x03"), {("close", 1002), ("eof",)}),
    ("not JSON", rawio.text(b"hello") + PING, {("error", "INVALID_JSON")}),
    ("JSON array", rawio.text(b"[1,2,3]") + PING, {("error", "INVALID_JSON"), ("error", "MISSING_TYPE"), ("error", "INVALID_PAYLOAD")}),
    ("deeply nested JSON", rawio.text(b"[" * 100000 + b"]" * 100000) + PING, {("error", "INVALID_JSON"), ("error", "INVALID_PAYLOAD"), ("error", "MISSING_TYPE")}),
    ("deeply nested object", rawio.text(b'{"a":' * 50000 + b"1" + b"}" * 50000) + PING, {("error", "INVALID_JSON"), ("error", "MISSING_TYPE"), ("error", "INVALID_PAYLOAD")}),
    ("no type", rawio.text({"payload": {}}) + PING, {("error", "MISSING_TYPE")}),
    ("unknown type", rawio.text({"type": "nope"}) + PING, {("error", "UNKNOWN_TYPE")}),
    ("type is a number", rawio.text({"type": 5}) + PING, {("error", "INVALID_PAYLOAD"), ("error", "MISSING_TYPE")}),
    ("lone surrogate escape", rawio.text(b'{"type":"join","payload":{"roomId":"a","username":"\\ud800"}}') + PING,
     {("error", "INVALID_USERNAME"), ("error", "INVALID_JSON"), ("error", "INVALID_PAYLOAD")}),
    ("huge number", rawio.text(b'{"type":"ping","n":1' + b"0" * 5000 + b"}") + PING, {("pong",), ("error", "INVALID_JSON")}),
    # 1.5 MB: over every text limit, and over ECHO_INBOUND_BYTES_PER_SECOND's one-second budget
    # (a server may pause reading, or close with 1008 as a policy violation).
    ("1.5 MB chat text", rawio.text({"type": "chat", "payload": {"message": "x" * 1_500_000}}) + PING,
     {("error", "MESSAGE_TOO_LONG"), ("error", "NOT_JOINED"), ("close", 1008)}),
    ("chat before join", rawio.text({"type": "chat", "payload": {"message": "hi"}}) + PING, {("error", "NOT_JOINED")}),
    ("SVG image", rawio.text({"type": "join", "payload": {"roomId": "malformed-svg", "username": "m"}}) +
     rawio.text({"type": "chat", "payload": {"image": "data:image/svg+xml;base64,PHN2Zy8+"}}), {("error", "INVALID_IMAGE")}),
    ("bad since", rawio.text({"type": "join", "payload": {"roomId": "a", "username": "m", "since": "../../x"}}) + PING, {("error", "INVALID_SINCE")}),
    ("fragmented JSON (valid)", frame(1, b'{"type":', fin=False) + frame(0, b'"pi', fin=False) + frame(0, b'ng"}'), {("pong",)}),
    ("ping frame", frame(9, b"hi") + PING, {("pong",)}),
]

# (name, raw request, acceptable HTTP statuses; None = the server hung up without an answer)
HTTP_CASES = [
    ("garbage request line", b"GARBAGE\r\n\r\n", {400, None}),
    ("HTTP/0.9", b"GET /\r\n\r\n", {400, 200, None}),
    ("bad version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505, None}),
    ("100 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", {400, 431, None}),
    ("100,000 headers (1.6 MB)", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(100000)) + b"\r\n", {400, 431, None}),
    ("upgrade, version 8", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", {426}),
    ("upgrade, no key", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\n\r\n", {400}),
    ("upgrade, short key", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n", {400}),
    ("bad chunked body", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", {400, 404, 405, None}),
    ("NUL in path", b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404, None}),
    ("path traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404}),
]


async def ws_outcome(port: int, payload: bytes) -> tuple:
    reader, writer = await rawio.upgrade(port)
    try:
        writer.write(payload)
        await writer.drain()
        while True:
            op, data = await rawio.read_frame(reader, ANSWER_TIMEOUT)
            if op == 8:
                return ("close", rawio.close_code(data))
            if op == 1:
                msg = json.loads(data)
                if msg.get("type") == "error":
                    return ("error", msg.get("code"))
                if msg.get("type") == "pong":
                    return ("pong",)
    except asyncio.TimeoutError:
        return ("hang",)
    except (asyncio.IncompleteReadError, ConnectionError):
        return ("eof",)
    finally:
        writer.transport.abort()


async def http_outcome(port: int, request: bytes):
    reader, writer = await rawio.open_conn(port)
    try:
        writer.write(request)
        await writer.drain()
        status, _ = await rawio.read_head(reader, ANSWER_TIMEOUT)
        return status
    except asyncio.TimeoutError:
        return "hang"
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        return None
    finally:
        writer.transport.abort()


async def malformed_input(settings: Settings) -> Row:
    async def inject(ctx):
        pids = set(ctx.echo.worker_pids())
        wrong = []
        for name, payload, ok in WS_CASES:
            got = await ws_outcome(ctx.echo.port, payload)
            if got not in ok:
                wrong.append(f"{name}: got {got}, expected one of {sorted(ok, key=str)}")
        for name, request, ok in HTTP_CASES:
            got = await http_outcome(ctx.echo.port, request)
            if got not in ok:
                wrong.append(f"HTTP {name}: got {got}, expected one of {sorted(ok, key=str)}")
        restarted = pids - set(ctx.echo.worker_pids())
        ctx.notes.append(f"{len(WS_CASES)} frame cases, {len(HTTP_CASES)} HTTP cases; {len(wrong)} answered wrongly")
        ctx.notes.extend(wrong)
        if wrong:
            ctx.failures.append(f"{len(wrong)} cases answered wrongly")
        if restarted:
            ctx.failures.append(f"{len(restarted)} workers died (pids {sorted(restarted)})")

    return await run_fault("malformed", "malformed frames and HTTP requests (fixed cases)", inject, settings)
