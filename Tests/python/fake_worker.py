#!/usr/bin/env python3
"""A stand-in for `echo-worker` that speaks the control protocol (newline-delimited JSON on fd 4)
and answers every HTTP request on the inherited socket (fd 3) with 200. It lets the supervisor's
process machinery (spawning, notify, signals, restarts) be tested on its own.

FAKE_WORKER_EXIT=<code> makes it exit at once with that code (a worker that cannot start);
FAKE_WORKER_EXIT_SLOT=<n> limits that to the worker of slot n.
"""
import json
import os
import socket
import sys
import threading
import time

if os.environ.get("FAKE_WORKER_EXIT") and os.environ.get("FAKE_WORKER_EXIT_SLOT", os.environ.get("ECHO_WORKER_SLOT")) == os.environ.get("ECHO_WORKER_SLOT"):
    sys.exit(int(os.environ["FAKE_WORKER_EXIT"]))

listen_fd = int(os.environ["ECHO_LISTEN_FD"])
control_fd = int(os.environ["ECHO_CONTROL_FD"])
slot = int(os.environ.get("ECHO_WORKER_SLOT", "0"))
interval = int(os.environ.get("ECHO_HEARTBEAT_MS", "1000")) / 1000

listener = socket.socket(fileno=listen_fd)
listener.listen(4096)
control = socket.socket(fileno=control_fd)
lock = threading.Lock()
served = 0
accepting = True


def send(message):
    with lock:
        control.sendall((json.dumps(message) + "\n").encode())


def serve():
    global served
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            conn.settimeout(2)
            conn.recv(4096)
            body = json.dumps({"status": "ok", "pid": os.getpid(), "slot": slot}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            served += 1
        except OSError:
            pass
        finally:
            conn.close()


def heartbeat():
    while True:
        time.sleep(interval)
        stats = {"slot": slot, "pid": os.getpid(), "connections": 0, "rooms": 0, "messagesIn": served,
                 "messagesOut": 0, "errors": 0, "rateLimited": 0, "slowConsumerCloses": 0,
                 "redisConnected": True, "redisReconnects": 0, "rssBytes": 0}
        try:
            send({"type": "heartbeat", "stats": stats})
        except OSError:
            os._exit(0)


def stop_accepting():
    # shutdown() wakes the accept() blocked in the serving thread; close() alone would not.
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


threading.Thread(target=serve, daemon=True).start()
threading.Thread(target=heartbeat, daemon=True).start()
send({"type": "ready", "pid": os.getpid()})

buffer = b""
while True:
    data = control.recv(65536)
    if not data:
        os._exit(0)  # the supervisor is gone
    buffer += data
    while b"\n" in buffer:
        line, buffer = buffer.split(b"\n", 1)
        message = json.loads(line)
        kind = message.get("type")
        if kind == "stopAccepting":
            stop_accepting()
            send({"type": "stoppedAccepting"})
        elif kind == "drain":
            stop_accepting()
            with open(os.environ.get("FAKE_WORKER_LOG", "/dev/null"), "a") as log:
                log.write(f"drain {os.getpid()} {message.get('closeCode')}\n")
            send({"type": "drained"})
            os._exit(0)
