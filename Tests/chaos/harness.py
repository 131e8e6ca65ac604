"""Processes the chaos suite owns: a private redis-server it may kill, pause, restart or wipe, and a
real `echo` supervisor (with its workers) pointed at it.

Binaries come from ECHO_BIN_DIR (default .build/debug). Logs go to .test-output/chaos/.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from resp import Redis

# The pytest suite's helpers, shared rather than copied (Tests/python/conftest.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from conftest import PER_IP_LIMITS_OFF, free_port, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ECHO_BIN_DIR", ROOT / ".build" / "debug"))
OUTPUT_DIR = Path(os.environ.get("ECHO_TEST_OUTPUT", ROOT / ".test-output")) / "chaos"

# The fault-injection rows run with the per-IP defences off (PER_IP_LIMITS_OFF), so that they
# cannot be what refused a client; the abuse rows run with the defaults.


def http_get(url: str, timeout=3.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class RedisProc:
    """A redis-server on a fixed port, so a restart comes back at the same address."""

    def __init__(self, appendonly: bool = False, name: str = "redis"):
        self.port = free_port()
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="echo-chaos-redis-")
        self.proc: subprocess.Popen | None = None
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = OUTPUT_DIR / f"{name}-{self.port}.log"

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--logfile", str(self.log_path)]
        # appendfsync always: a kill -9 right after an acknowledged XADD must not lose it, or the
        # suite would measure Redis' fsync policy instead of Echo.
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, what="redis-server", timeout=10)
        return self

    def ping(self) -> bool:
        with Redis(self.port, timeout=1) as r:
            return r.call("PING") == "PONG"

    def call(self, *args):
        with Redis(self.port) as r:
            return r.call(*args)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def sigstop(self):
        self.proc.send_signal(signal.SIGSTOP)

    def sigcont(self):
        self.proc.send_signal(signal.SIGCONT)

    def wipe(self):
        """Forgets everything on disk: the next start is an empty Redis."""
        for p in Path(self.dir).iterdir():
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class EchoProc:
    """The real supervisor `echo` with N workers on a free port, against `redis`."""

    def __init__(self, redis: RedisProc, workers: int = 2, env: dict | None = None, name: str = "echo",
                 per_ip_limits: bool = False):
        self.port = free_port()
        self.admin_port = free_port()
        self.redis = redis
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = OUTPUT_DIR / f"{name}-{self.port}.log"
        self.log = open(self.log_path, "wb")
        full = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "REDIS_URL": redis.url,
                "ECHO_ADMIN_LISTEN": f"127.0.0.1:{self.admin_port}", "ECHO_RATE_LIMIT": "0",
                # The checker compares every client with the whole stream: nothing may be trimmed.
                "ECHO_STREAM_MAXLEN": "1000000"}
        if not per_ip_limits:
            full.update(PER_IP_LIMITS_OFF)
        full.update(env or {})
        self.env = full
        self.proc = subprocess.Popen([str(BIN_DIR / "echo"), "--workers", str(workers),
                                      "--runtime-dir", tempfile.mkdtemp(prefix="echo-chaos-run-")],
                                     env=full, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def healthy(self) -> bool:
        status, _ = http_get(self.base + "/health", timeout=2)
        return status == 200

    def wait_healthy(self, timeout=30.0, workers: int | None = None):
        def ok():
            if not self.alive():
                raise RuntimeError(f"echo exited with {self.proc.returncode}; log {self.log_path}")
            if workers is not None and len(self.worker_pids()) != workers:
                return False
            return self.healthy()
        wait_for(ok, timeout=timeout, interval=0.1, what="echo /health")
        return self

    def worker_pids(self) -> list[int]:
        """The supervisor's echo-worker children (its redis-server, if any, is not one)."""
        return [pid for pid, comm in children(self.proc.pid) if comm.startswith("echo-worker")]

    def rss_bytes(self) -> dict[int, int]:
        return {pid: rss_of(pid) for pid in self.worker_pids()}

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    for pid in self.worker_pids():
                        os.kill(pid, signal.SIGKILL)
                    self.proc.kill()
                    self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


def children(ppid: int) -> list[tuple[int, str]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out.append((int(entry), comm))
    return out


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
