"""Fixtures shared by every Python test: a real redis-server and real Echo processes.

Binaries come from ECHO_BIN_DIR (default .build/debug). Redis comes from ECHO_TEST_REDIS_URL when
`make test` started one; otherwise a private redis-server is started here on a free port.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import uuid
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ECHO_BIN_DIR", ROOT / ".build" / "debug"))
OUTPUT_DIR = Path(os.environ.get("ECHO_TEST_OUTPUT", ROOT / ".test-output"))


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


_EPHEMERAL = _ephemeral_ports()
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, for a server a test starts.

    Chosen below the kernel's ephemeral range: a port from `bind(0)` is an ephemeral one, which any
    outgoing connection (Echo to Redis, a client to Echo) may take as its local port between this
    check and the server's own bind, and the server then fails with EADDRINUSE. Never the same
    port twice in one run, so two servers of one test (a cluster's node and bus ports) cannot
    collide either."""
    top = min(_EPHEMERAL.start, 65536) - 1
    for _ in range(2000):
        port = random.randint(10000, top)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in 10000-{top}")


def room_code(prefix: str = "r") -> str:
    """A fresh room code for a test: unique per call and always longer than the 8 characters a new
    room's code needs (a code made from the pid was not, whenever the pid was under 1000)."""
    return prefix + uuid.uuid4().hex[:12]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the thing may not be up yet
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout=5.0, headers=None):
    """Returns (status, headers, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class RedisServer:
    is_cluster = False

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="echo-redis-")
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", what="redis-server")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None

    def cli(self, *args) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *map(str, args)],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip()

    def on_primaries(self, *args) -> dict[int, str]:
        """A command on every primary: here the one node (RedisCluster has several)."""
        return {self.port: self.cli(*args)}

    def publish(self, channel: str, payload: str) -> str:
        """What the send script does: PUBLISH on one node (SPUBLISH on a cluster)."""
        return self.cli("PUBLISH", channel, payload)

    @staticmethod
    def tag(room_id: str) -> str:
        """A room's part of its key names: `stream:{tag}` (the bare id on one node)."""
        return room_id


def stop_processes(procs):
    """SIGTERM to every process still running, then up to 5 s each before SIGKILL."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class RedisCluster:
    """A Redis Cluster on loopback: `primaries` primaries with `replicas` replicas each
    (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`).

    Every node gets a free port and a free cluster-bus port (`--cluster-port`: the default,
    port + 10000, may be taken or above 65535). `node_timeout_ms` is short so that a killed
    primary's replica takes over within a few seconds. `.url` names the primaries as seeds.
    `.cli(*args)` follows redirects (`redis-cli -c`), so a test that pokes a room's keys works in
    both modes; `.node(port, *args)` asks one node.

    With `tls` (a tlsca.TestCA), every node speaks only TLS (`--port 0 --tls-port`), on the
    cluster bus and for replication too, with one certificate for localhost and 127.0.0.1 (the
    address each node announces); `.url` is `rediss+cluster://…`."""

    is_cluster = True

    def __init__(self, primaries=3, replicas=1, node_timeout_ms=2000, directory: str | None = None, tls=None):
        count = primaries * (1 + replicas)
        self.tls = tls
        self.leaf = tls.issue("localhost", serial=0x3C01, prefix="cluster-node") if tls else None
        self.ports = [free_port() for _ in range(count)]
        self.bus_ports = [free_port() for _ in range(count)]
        self.primary_count = primaries
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.dir = directory or tempfile.mkdtemp(prefix="echo-cluster-")
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def redis_cli(self) -> list[str]:
        return ["redis-cli", "--tls", "--cacert", str(self.tls.cert)] if getattr(self, "tls", None) else ["redis-cli"]

    @property
    def port(self):
        """A node to connect to (the first primary at creation)."""
        return self.ports[0]

    @property
    def url(self):
        scheme = "rediss+cluster://" if self.tls else "redis+cluster://"
        return scheme + ",".join(f"127.0.0.1:{p}" for p in self.ports[:self.primary_count]) + "/"

    def start_node(self, port: int):
        bus = self.bus_ports[self.ports.index(port)]
        node_dir = Path(self.dir) / str(port)
        node_dir.mkdir(exist_ok=True)
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                      "--tls-cert-file", str(self.leaf.cert), "--tls-key-file", str(self.leaf.key),
                      "--tls-ca-cert-file", str(self.tls.cert), "--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(port)]
        self.procs[port] = subprocess.Popen(
            ["redis-server", *listen, "--cluster-port", str(bus), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf"),
             "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no",
             # As docs/operations.md recommends: the other shards keep serving while one fails over.
             "--cluster-require-full-coverage", "no",
             # A replica's first sync starts at once (the default waits 5 s for more replicas).
             "--repl-diskless-sync-delay", "0",
             "--dir", str(node_dir), "--logfile", str(node_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def answers():
            if self.procs[port].poll() is not None:
                log = node_dir / "redis.log"
                tail = log.read_text()[-1500:] if log.exists() else "(no log)"
                raise AssertionError(f"cluster node {port} exited: {tail}")
            return self.node(port, "PING") == "PONG"
        wait_for(answers, what=f"cluster node {port}")

    def start(self):
        for port in self.ports:
            self.start_node(port)
        out = subprocess.run(
            [*self.redis_cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        self.wait_ok()
        self.wait_replicas_in_sync()
        return self

    def wait_replicas_in_sync(self, timeout=20.0):
        """Until every replica finished its first sync: a replica still syncing cannot take over."""
        replicas = [p for p in self.procs if "role:slave" in self.node(p, "INFO", "replication")]
        wait_for(lambda: all("master_link_status:up" in self.node(p, "INFO", "replication") for p in replicas),
                 timeout=timeout, interval=0.1, what="every replica in sync with its primary")

    def wait_ok(self, timeout=30.0):
        """Until every running node says the cluster is ok and every slot's primary is a running
        node (after a kill, until a replica took over)."""
        def ok():
            for port in self.procs:
                if "cluster_state:ok" not in self.node(port, "CLUSTER", "INFO"):
                    return False
            primaries = self.primaries()
            return len(primaries) == self.primary_count and all(p in self.procs for p in primaries)
        wait_for(ok, timeout=timeout, interval=0.2, what="cluster_state:ok on every node")

    def stop(self):
        stop_processes(self.procs.values())
        self.procs = {}
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self, port: int):
        """kill -9 one node (a primary's failure)."""
        self.procs[port].kill()
        self.procs[port].wait(5)
        del self.procs[port]

    def node(self, port: int, *args) -> str:
        out = subprocess.run([*self.redis_cli, "-p", str(port), *map(str, args)], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def cli(self, *args) -> str:
        """A command sent where its key lives (redirects followed), through a running primary."""
        port = self.primaries()[0] if self.procs else self.port
        out = subprocess.run([*self.redis_cli, "-c", "-p", str(port), *map(str, args)], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def on_primaries(self, *args) -> dict[int, str]:
        """A command on every primary (SCRIPT FLUSH, CLIENT LIST, INFO ...)."""
        return {port: self.node(port, *args) for port in self.primaries()}

    def publish(self, channel: str, payload: str) -> str:
        return self.cli("SPUBLISH", channel, payload)

    @staticmethod
    def tag(room_id: str) -> str:
        """A room's part of its key names in a cluster: its hash tag (`stream:{r}`)."""
        return "{" + room_id + "}"

    def shards(self) -> list[dict]:
        """CLUSTER SHARDS as dicts: slots [(start, end)], primary port, replica ports."""
        for port in self.procs:
            lines = self.node(port, "CLUSTER", "NODES").splitlines()
            if lines:
                break
        shards = []
        for line in lines:
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2] or len(fields) < 9:
                continue
            ranges = []
            for part in fields[8:]:
                if part.startswith("["):
                    continue
                start, _, end = part.partition("-")
                ranges.append((int(start), int(end or start)))
            shards.append({"id": fields[0], "port": int(fields[1].split(":")[1].split("@")[0]), "slots": ranges})
        return shards

    def primaries(self) -> list[int]:
        """Ports of the primaries that serve slots, as the first answering node sees them."""
        return sorted(s["port"] for s in self.shards() if s["slots"])

    def slot(self, key: str) -> int:
        return int(self.node(self.port if self.port in self.procs else next(iter(self.procs)), "CLUSTER", "KEYSLOT", key))

    def primary_for(self, key: str) -> int:
        slot = self.slot(key)
        for shard in self.shards():
            if any(a <= slot <= b for a, b in shard["slots"]):
                return shard["port"]
        raise AssertionError(f"no primary serves slot {slot}")


class EchoProcess:
    """A running `echo-worker` or `echo`, with its port and logs."""

    def __init__(self, binary: str, port: int, env: dict, args: list[str], name: str):
        self.port = port
        self.name = name
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = OUTPUT_DIR / f"{name}-{port}.log"
        self.log = open(self.log_path, "wb")
        # Every test process gets an admin listener of its own (/metrics, detailed /health): the
        # default 127.0.0.1:9090 would be shared by every Echo started at once.
        env = {"ECHO_ADMIN_LISTEN": f"127.0.0.1:{free_port()}", **env}
        self.admin_listen = env["ECHO_ADMIN_LISTEN"]
        full_env = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"}
        self.proc = subprocess.Popen([str(BIN_DIR / binary), *args], env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_base(self):
        return f"http://{self.admin_listen}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def wait_healthy(self, timeout=20.0):
        def ok():
            assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}"
            status, _, _ = http_get(self.base + "/health", timeout=1)
            return status == 200
        wait_for(ok, timeout=timeout, what=f"{self.name} /health")
        return self

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def redis_server():
    url = os.environ.get("ECHO_TEST_REDIS_URL")
    if url and url.startswith("redis+cluster://"):
        yield ClusterRedisServer(url)
        return
    if url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        yield RedisServer(port)
        return
    server = RedisServer().start()
    yield server
    server.stop()


class ClusterRedisServer(RedisCluster):
    """A cluster someone else started (`make test` names it in ECHO_TEST_REDIS_URL): its seeds'
    ports are known, the rest is asked of the nodes."""

    def __init__(self, url: str):
        seeds = [int(hp.rsplit(":", 1)[1]) for hp in url.split("://", 1)[1].rstrip("/").split(",")]
        self.ports = seeds
        self.primary_count = len(seeds)
        self._url = url
        # Not started here: every node counts as running.
        self.procs = {p: None for p in seeds}

    @property
    def url(self):
        return self._url

    def stop(self):
        pass


@pytest.fixture
def redis_cluster():
    """A fresh 3-primary, 3-replica cluster of this test's own."""
    cluster = RedisCluster().start()
    yield cluster
    cluster.stop()


class TLSRedisServer(RedisServer):
    """A redis-server that speaks only TLS (`--port 0`), with a certificate for localhost and
    127.0.0.1 from a throwaway CA (`ca`); clients are not asked for certificates."""

    def __init__(self, ca, leaf):
        super().__init__()
        self.ca = ca
        self.leaf = leaf

    @property
    def url(self):
        return f"rediss://localhost:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(self.leaf.cert), "--tls-key-file", str(self.leaf.key),
             "--tls-ca-cert-file", str(self.ca.cert), "--tls-auth-clients", "no",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", what="redis-server (TLS)")
        return self

    def cli(self, *args) -> str:
        out = subprocess.run(["redis-cli", "--tls", "--cacert", str(self.ca.cert), "--sni", "localhost",
                              "-h", "localhost", "-p", str(self.port), *map(str, args)],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip()


@pytest.fixture
def redis_tls_server(tmp_path):
    """A TLS-only redis-server: `.url` (rediss://localhost:P), `.ca.cert` (the CA to trust), `.cli(...)`."""
    from tlsca import TestCA
    ca = TestCA(tmp_path / "redis-ca", name="Echo Redis Test CA")
    server = TLSRedisServer(ca, ca.issue("localhost", serial=0x2001, prefix="redis")).start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


# Every test client connects from 127.0.0.1; the per-IP defences are off unless a test sets them.
PER_IP_LIMITS_OFF = {"ECHO_MAX_CONNECTIONS_PER_IP": "0", "ECHO_HANDSHAKES_PER_IP": "0", "ECHO_JOINS_PER_IP": "0"}


@pytest.fixture
def start_worker(redis_server):
    """Starts `echo-worker` processes against the test Redis: start_worker(ECHO_RATE_LIMIT="0", ...)."""
    started: list[EchoProcess] = []

    def start(redis_url=None, port=None, args=(), wait=True, **env):
        env = {"REDIS_URL": redis_url or redis_server.url, "ECHO_RATE_LIMIT": "0", **PER_IP_LIMITS_OFF, **env}
        p = EchoProcess("echo-worker", port or free_port(), env, list(args), "worker")
        started.append(p)
        return p.wait_healthy() if wait else p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def workers(start_worker):
    """Two `echo-worker`s on the test Redis: members on both see each other through Redis."""
    return start_worker(), start_worker()


@pytest.fixture
def start_echo(redis_server):
    """Starts the supervisor `echo`: start_echo(workers=2, ECHO_RATE_LIMIT="0", ...)."""
    started: list[EchoProcess] = []

    def start(workers=2, redis_url="default", port=None, args=(), wait=True, **env):
        env = {"ECHO_RATE_LIMIT": "0", **PER_IP_LIMITS_OFF, **env}
        if redis_url == "default":
            env["REDIS_URL"] = redis_server.url
        elif redis_url:
            env["REDIS_URL"] = redis_url
        p = EchoProcess("echo", port or free_port(), env, ["--workers", str(workers), *args], "echo")
        started.append(p)
        return p.wait_healthy() if wait else p

    yield start
    for p in started:
        p.stop()


def https_status(port: int, context: ssl.SSLContext, path="/health") -> int:
    """The status of an https GET to localhost:port, trusting what `context` trusts."""
    request = urllib.request.Request(f"https://localhost:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def start_tls_echo(start_echo, ca, serial=0x7A11, key_type="ec", workers=2, **env):
    """`echo` serving only TLS on its port with a localhost leaf of the test CA `ca`
    (Tests/python/tlsca.py), returned once its /health answers over https."""
    leaf = ca.issue("localhost", serial=serial, key_type=key_type)
    echo = start_echo(workers=workers, wait=False, ECHO_TLS_CERT=str(leaf.chain), ECHO_TLS_KEY=str(leaf.key), **env)

    def healthy():
        assert echo.proc.poll() is None, f"echo exited with {echo.proc.returncode}:\n{echo.logs()}"
        try:
            return https_status(echo.port, ca.context()) == 200
        except OSError:
            return False
    wait_for(healthy, timeout=30, what="echo's /health over https")
    return echo


def pytest_configure(config):
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
