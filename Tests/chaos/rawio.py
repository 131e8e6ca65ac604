"""Raw bytes on a socket (asyncio): frames and requests a well-behaved library refuses to send."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct


def handshake(port: int, path: str = "/ws", extra: dict | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    headers = "".join(f"{k}: {v}\r\n" for k, v in (extra or {}).items())
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n").encode()


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = True,
          length: int | None = None) -> bytes:
    """One WebSocket frame; `length` overrides the declared length (a lie about the size)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + _xor(payload, mask)


def _xor(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def text(obj) -> bytes:
    return frame(1, json.dumps(obj).encode() if not isinstance(obj, bytes) else obj)


async def open_conn(port: int, source_ip: str = "127.0.0.1", rcvbuf: int | None = None, timeout: float = 10.0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    sock.bind((source_ip, 0))
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def read_head(reader: asyncio.StreamReader, timeout: float) -> tuple[int | None, bytes]:
    """Reads an HTTP response head; (status, head) or (None, what came) if the peer closed."""
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    try:
        return int(data.split(b" ", 2)[1]), data
    except (IndexError, ValueError):
        return None, data


async def read_frame(reader: asyncio.StreamReader, timeout: float) -> tuple[int, bytes]:
    async def go():
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        return b0 & 0x0F, await reader.readexactly(n)
    return await asyncio.wait_for(go(), timeout)


async def upgrade(port: int, source_ip: str = "127.0.0.1", timeout: float = 10.0, rcvbuf: int | None = None):
    """A raw WebSocket past its handshake: (reader, writer); raises if not 101."""
    reader, writer = await open_conn(port, source_ip, rcvbuf=rcvbuf, timeout=timeout)
    writer.write(handshake(port))
    await writer.drain()
    status, head = await read_head(reader, timeout)
    if status != 101:
        writer.close()
        raise ConnectionRefusedError(f"HTTP {status}")
    return reader, writer


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
