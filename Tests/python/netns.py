"""Hosts made of Linux network namespaces, for tests that need several machines on one box.

A `Lan` is a switch (a bridge inside a namespace of its own) and hosts plugged into it, each a
namespace with one veth whose other end is a port of the bridge, addressed 10.77.<subnet>.<n>/24.
Nothing is added to the test's own namespace: code that must talk to the hosts runs inside one of
them (`Host.popen`, or `Host.call` for Python code, which runs in a thread that entered the
namespace). Cutting a host's link takes its bridge port down, as a pulled cable: the host sees no
error at once, and its peers get no FIN or RST.

Needs root and iproute2 (`ip netns`); `unavailable()` says why not, for a skip.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "echotest"
CLONE_NEWNET = 0x40000000


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip netns`)"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str, namespace: str | None = None):
    cmd = ["ip", *(["-n", namespace] if namespace else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


def remove_stale():
    """Deletes namespaces a killed test run left behind (their pid is gone)."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        parts = entry.name.split("-")
        if len(parts) >= 3 and parts[0] == PREFIX and parts[1].isdigit() and not Path(f"/proc/{parts[1]}").exists():
            subprocess.run(["ip", "netns", "del", entry.name], capture_output=True)


class Host:
    """A namespace plugged into the LAN: `address` is its only address (besides loopback)."""

    def __init__(self, lan: "Lan", name: str, address: str):
        self.lan = lan
        self.name = name
        self.namespace = f"{lan.prefix}-{name}"
        self.address = address
        self.port = f"p-{name}"[:15]  # its port on the bridge, in the switch's namespace
        self.processes: list[subprocess.Popen] = []

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        """Starts a process inside the host (stopped by `Lan.close`)."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.namespace, *args], **kwargs)
        self.processes.append(proc)
        return proc

    def run(self, *args: str, timeout=10) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.namespace, *args], capture_output=True, text=True,
                              timeout=timeout)

    def call(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` run inside the host's network namespace (in a thread of its own,
        since a namespace is entered per thread); its result is returned, its exception raised."""
        box: dict = {}

        def inside():
            try:
                fd = os.open(NETNS_DIR / self.namespace, os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {self.namespace}")
                finally:
                    os.close(fd)
                box["result"] = fn(*args, **kwargs)
            except BaseException as e:  # handed to the caller
                box["error"] = e

        thread = threading.Thread(target=inside, name=f"in-{self.name}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def cut(self):
        """Pulls the host's cable: its bridge port goes down."""
        ip("link", "set", self.port, "down", namespace=self.lan.switch)

    def restore(self):
        ip("link", "set", self.port, "up", namespace=self.lan.switch)

    def stop_processes(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


class Lan:
    """A switch and the hosts plugged into it, on 10.77.<subnet>.0/24. Use as a context manager:
    everything (processes, namespaces, veths) goes away on exit, failure or not."""

    def __init__(self, subnet: int = 0):
        remove_stale()
        self.prefix = f"{PREFIX}-{os.getpid()}-{subnet}"
        self.subnet = subnet
        self.switch = f"{self.prefix}-switch"
        self.hosts: list[Host] = []
        self.namespaces: list[str] = []

    def __enter__(self):
        try:
            self._namespace(self.switch)
            ip("link", "add", "br0", "type", "bridge", namespace=self.switch)
            ip("link", "set", "br0", "up", namespace=self.switch)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _namespace(self, name: str):
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("link", "set", "lo", "up", namespace=name)

    def add_host(self, name: str, number: int) -> Host:
        host = Host(self, name, f"10.77.{self.subnet}.{number}")
        self._namespace(host.namespace)
        self.hosts.append(host)
        ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.namespace,
           namespace=self.switch)
        ip("link", "set", host.port, "master", "br0", "up", namespace=self.switch)
        ip("addr", "add", f"{host.address}/24", "dev", "eth0", namespace=host.namespace)
        ip("link", "set", "eth0", "up", namespace=host.namespace)
        return host

    def close(self):
        # The last added first: servers outlive their clients.
        for host in reversed(self.hosts):
            host.stop_processes()
        # Deleting a namespace deletes the veth ends inside it, and so the pairs.
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces.clear()
