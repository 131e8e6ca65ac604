"""A throwaway systemd, booted as PID 1 of private namespaces, with Echo installed into it.

systemd is not PID 1 on the test machines, but it can be booted for a test: `unshare` gives it a
PID namespace (it is PID 1 there), a mount namespace and a network namespace of its own. Before it
starts, the namespace gets private tmpfs mounts on every path systemd or the install writes
(/tmp, /var/tmp, /run, /var/lib, /var/log, /usr/local, /etc/systemd/system, /etc/echo) and a
private /dev, and the units that would touch the host kernel or disks are masked. So nothing it
does reaches the host: systemd-tmpfiles, for one, would empty the host's /tmp at boot. Its cgroups
live under a cgroup of their own (`echo-systemd-test-<pid>` in each hierarchy), removed in
teardown. The network namespace has only `lo`: Echo listens on the shipped port 8080 without
colliding with anything, and tests reach it from a thread that joined that namespace
(`inside_network()`).

    host = SystemdHost()                 # stages echo, echo-worker, web/, the unit, the env file
    host.add_drop_in("echo.service", "x.conf", "[Service]\n...")   # optional, before boot
    with host:                           # boots; always kills its systemd on exit
        host.systemctl("start", "echo")
        with host.inside_network():
            client = Client("ws://127.0.0.1:8080/ws")
        print(host.journal("echo"))

Needs root, util-linux (`unshare`, `nsenter`), iproute2 (`ip`) and Debian's systemd package.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ECHO_BIN_DIR", ROOT / ".build" / "debug"))
OUTPUT_DIR = Path(os.environ.get("ECHO_TEST_OUTPUT", ROOT / ".test-output"))
SYSTEMD = Path("/lib/systemd/systemd")
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Units that would reach outside the namespaces (the host's kernel settings, devices, /etc, disks),
# or that are pointless in a test boot. Masked by a symlink to /dev/null in the private
# /etc/systemd/system, which beats /lib/systemd/system.
MASKED_UNITS = [
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service", "systemd-hwdb-update.service",
    "systemd-sysctl.service", "systemd-modules-load.service", "kmod-static-nodes.service",
    "systemd-remount-fs.service", "systemd-fsck-root.service",
    "systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.service", "systemd-tmpfiles-clean.timer",
    "systemd-sysusers.service", "systemd-firstboot.service", "systemd-machine-id-commit.service",
    "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount", "proc-sys-fs-binfmt_misc.mount",
    "ldconfig.service", "systemd-update-done.service", "systemd-journal-catalog-update.service",
    "systemd-random-seed.service", "systemd-pstore.service", "systemd-repart.service",
    "systemd-pcrphase.service", "systemd-pcrphase-sysinit.service", "systemd-boot-system-token.service",
    "systemd-update-utmp.service", "systemd-journald-audit.socket",
    "dev-hugepages.mount", "dev-mqueue.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
    "dbus.socket", "dbus.service", "systemd-timesyncd.service",
]

# Mounted as private tmpfs before anything else runs in the namespace.
PRIVATE_DIRECTORIES = ["/tmp", "/var/tmp", "/run", "/var/lib", "/var/log", "/var/cache", "/usr/local",
                       "/etc/systemd/system", "/etc/echo"]

# The script PID 1 of the namespace runs before it becomes systemd. $1 is the staged install tree.
BOOT_SCRIPT = r"""
set -eu
# The staged tree may lie under a directory the tmpfs mounts below hide (a checkout in /tmp): the
# working directory keeps pointing at it, so it is copied from there by relative paths.
cd "$1"
for d in %(dirs)s; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$d"
done
chmod 1777 /tmp /var/tmp
# A private /dev: the few nodes a service needs, bound from the host's, nothing created there.
mkdir /tmp/.dev
mount -t tmpfs -o mode=0755,nosuid tmpfs /tmp/.dev
for n in null zero full random urandom tty; do
    touch /tmp/.dev/$n
    mount --bind /dev/$n /tmp/.dev/$n
done
mkdir /tmp/.dev/pts /tmp/.dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /tmp/.dev/pts
ln -s pts/ptmx /tmp/.dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp/.dev/shm
ln -s /proc/self/fd /tmp/.dev/fd
ln -s /proc/self/fd/0 /tmp/.dev/stdin
ln -s /proc/self/fd/1 /tmp/.dev/stdout
ln -s /proc/self/fd/2 /tmp/.dev/stderr
mount --move /tmp/.dev /dev
rmdir /tmp/.dev
cp -a ./usr/local/. /usr/local/
cp -a ./etc/systemd/system/. /etc/systemd/system/
cp -a ./etc/echo/. /etc/echo/
cd /
ip link set lo up
# systemd makes / shared itself only on a machine, not in a container (container= below); without
# it, mounts made for a service (LoadCredential='s credentials directory) never reach the service.
# Shared within this mount namespace only: it was made private from the host's at unshare.
mount --make-rshared /
exec env -i container=echo-test PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    %(systemd)s --system --unit=basic.target --log-target=journal-or-kmsg --show-status=no
"""


class SystemdHostError(AssertionError):
    pass


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


def _setns(fd: int, kind: int):
    if _libc.setns(fd, kind) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class SystemdHost:
    """Boots systemd in private namespaces; use as a context manager (teardown always kills it)."""

    def __init__(self, name: str = "systemd-host"):
        if os.geteuid() != 0:
            raise SystemdHostError("booting systemd needs root")
        for tool in ("unshare", "nsenter", "ip"):
            if shutil.which(tool) is None:
                raise SystemdHostError(f"{tool} is not installed")
        if not SYSTEMD.exists():
            raise SystemdHostError(f"{SYSTEMD} is not installed")
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.stage = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=OUTPUT_DIR))
        self.console_path = OUTPUT_DIR / f"{name}-console.log"
        self.cgroup_name = f"echo-systemd-test-{os.getpid()}-{int(time.monotonic() * 1000)}"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # systemd's pid as the host sees it
        self._console = None
        self._sweep_stale_cgroups()
        self._stage_install()

    # ------------------------------------------------------------ lifecycle

    def __enter__(self):
        if self.pid is None:
            try:
                self.boot()
            except BaseException:
                self.shutdown()
                raise
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def _stage_install(self):
        """The tree `make install` (PREFIX=/usr/local) lays out, copied into the namespace at boot."""
        s = self.stage
        for d in ("usr/local/bin", "usr/local/share/echo", "usr/local/share/doc/echo", "etc/systemd/system", "etc/echo"):
            (s / d).mkdir(parents=True, exist_ok=True)
        for binary in ("echo", "echo-worker"):
            shutil.copy2(BIN_DIR / binary, s / "usr/local/bin" / binary)
        shutil.copytree(ROOT / "web", s / "usr/local/share/echo/web")
        shutil.copy2(ROOT / "docs/operations.md", s / "usr/local/share/doc/echo/operations.md")
        shutil.copy2(ROOT / "systemd/echo.service", s / "etc/systemd/system/echo.service")
        shutil.copy2(ROOT / "systemd/echo.socket", s / "etc/systemd/system/echo.socket")
        shutil.copy2(ROOT / "systemd/echo.env", s / "etc/echo/echo.env")
        os.chmod(s / "etc/echo/echo.env", 0o644)
        for unit in MASKED_UNITS:
            os.symlink("/dev/null", s / "etc/systemd/system" / unit)

    def add_drop_in(self, unit: str, name: str, text: str):
        """A drop-in for `unit`, written before boot (after boot, use `write_file` + daemon-reload)."""
        d = self.stage / "etc/systemd/system" / f"{unit}.d"
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)

    def boot(self, timeout: float = 60.0):
        cgroup_procs = self._make_cgroup()
        script = BOOT_SCRIPT % {"dirs": " ".join(PRIVATE_DIRECTORIES), "systemd": SYSTEMD}
        self._console = open(self.console_path, "wb")

        def enter_cgroup():
            # Before unshare: systemd takes the cgroup it starts in as its root, so everything it
            # creates stays under ours.
            for procs in cgroup_procs:
                procs.write_text(str(os.getpid()))
            # Should this test process die without its teardown (kill -9), unshare dies with it
            # and takes systemd along (--kill-child).
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount", "--propagation", "private",
             "--mount-proc", "--net", "--uts", "--ipc", "--", "bash", "-c", script, "boot", str(self.stage)],
            stdin=subprocess.DEVNULL, stdout=self._console, stderr=subprocess.STDOUT,
            preexec_fn=enter_cgroup, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.pid is None:
            if self.proc.poll() is not None:
                raise SystemdHostError(f"the namespace exited with {self.proc.returncode}:\n{self.console()}")
            if time.monotonic() > deadline:
                raise SystemdHostError(f"systemd did not start:\n{self.console()}")
            child = self._child_of(self.proc.pid)
            if child and Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                self.pid = child
            else:
                time.sleep(0.05)
        while True:
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise SystemdHostError(f"systemd did not finish booting (state {state!r}):\n{self.console()}")
            time.sleep(0.2)
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend", "--plain"], check=False).stdout
            raise SystemdHostError(f"systemd booted degraded: {failed}\n{self.console()}")
        return self

    def shutdown(self):
        """Kills systemd (and with it, as PID 1 of its namespace, every process in there).
        Idempotent; the host is then done (its staged install is gone)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.proc is not None:
            if self.pid is None and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.pid = None
        self.proc = None
        if self._console:
            self._console.close()
            self._console = None
        self._remove_cgroups()
        shutil.rmtree(self.stage, ignore_errors=True)

    # ------------------------------------------------------------ cgroups

    def _hierarchies(self) -> list[Path]:
        """Every mounted cgroup hierarchy (v1 controllers, name=systemd, the unified one, or a v2 root)."""
        found = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if fields[2] in ("cgroup", "cgroup2"):
                found.append(Path(fields[1]))
        return found

    def _make_cgroup(self) -> list[Path]:
        procs = []
        for hierarchy in self._hierarchies():
            # Only the hierarchies systemd tracks processes in; it creates the others' as needed.
            if hierarchy.name not in ("systemd", "unified") and hierarchy != CGROUP_ROOT:
                continue
            group = hierarchy / self.cgroup_name
            group.mkdir()
            procs.append(group / "cgroup.procs")
        if not procs:
            raise SystemdHostError("no cgroup hierarchy to put systemd in")
        return procs

    def _sweep_stale_cgroups(self):
        """Removes the empty cgroups of earlier boots whose test process died without teardown."""
        for hierarchy in self._hierarchies():
            for top in hierarchy.glob("echo-systemd-test-*"):
                owner = top.name.split("-")[3]
                if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                    with contextlib.suppress(OSError):
                        self._remove_cgroup_tree(top, wait=0)

    def _remove_cgroups(self):
        for hierarchy in self._hierarchies():
            top = hierarchy / self.cgroup_name
            if top.is_dir():
                self._remove_cgroup_tree(top, wait=10)

    @staticmethod
    def _remove_cgroup_tree(top: Path, wait: float):
        # Deepest first; a cgroup with a process left in it refuses, which is then a bug to see.
        dirs = sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)
        deadline = time.monotonic() + wait
        for d in dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    @staticmethod
    def _child_of(pid: int) -> int | None:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    # ------------------------------------------------------------ driving it

    def run(self, args: list[str], check: bool = True, timeout: float = 60.0, input: str | None = None
            ) -> subprocess.CompletedProcess:
        """Runs `args` inside the namespaces (mount, PID, network), as root."""
        if self.pid is None:
            raise SystemdHostError("systemd is not running")
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "--mount", "--pid", "--net", "--uts", "--ipc", "--", *args],
            capture_output=True, text=True, timeout=timeout, input=input,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0",
                 "LANG": "C.UTF-8"})
        if check and result.returncode != 0:
            raise SystemdHostError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def systemctl(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return self.run(["systemctl", "--no-pager", *args], check=check, timeout=timeout)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str | None = None, since_cursor: str | None = None, output: str = "short-precise") -> str:
        args = ["journalctl", "--no-pager", "--output", output]
        if unit:
            args += ["--unit", unit]
        if since_cursor:
            args += ["--after-cursor", since_cursor]
        return self.run(args, check=False).stdout

    def journal_cursor(self) -> str:
        """The cursor of the newest entry, for `journal(since_cursor=...)`."""
        out = self.run(["journalctl", "--no-pager", "--lines", "1", "--show-cursor", "--quiet"], check=False).stdout
        for line in out.splitlines():
            if line.startswith("-- cursor: "):
                return line.removeprefix("-- cursor: ").strip()
        return ""

    def main_pid(self, unit: str = "echo") -> int:
        """The unit's main pid as the namespace sees it (0 when not running)."""
        return int(self.show(unit, "MainPID")["MainPID"])

    def host_pid(self, namespace_pid: int) -> int:
        """The host's pid of a process of the namespace (from NSpid in /proc/PID/status)."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:"):
                    pids = line.split()[1:]
                    if len(pids) >= 2 and int(pids[1]) == namespace_pid and self._in_our_pidns(int(entry)):
                        return int(entry)
        raise SystemdHostError(f"no process with pid {namespace_pid} in the namespace")

    def _in_our_pidns(self, host_pid: int) -> bool:
        try:
            return os.readlink(f"/proc/{host_pid}/ns/pid") == os.readlink(f"/proc/{self.pid}/ns/pid")
        except OSError:
            return False

    def proc_status(self, namespace_pid: int) -> dict[str, str]:
        """/proc/PID/status of a process of the namespace, as a dictionary."""
        text = Path(f"/proc/{self.host_pid(namespace_pid)}/status").read_text()
        return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}

    def children(self, namespace_pid: int) -> list[int]:
        """Namespace pids of the live children of `namespace_pid`."""
        out = self.run(["ps", "-o", "pid=,stat=", "--ppid", str(namespace_pid)], check=False).stdout
        return [int(line.split()[0]) for line in out.splitlines() if line.split() and not line.split()[1].startswith("Z")]

    def command_name(self, namespace_pid: int) -> str:
        return self.run(["cat", f"/proc/{namespace_pid}/comm"], check=False).stdout.strip()

    def write_file(self, path: str, text: str, mode: int = 0o644):
        self.run(["sh", "-c", f'cat > "$0" && chmod {mode:o} "$0"', path], input=text)

    def console(self) -> str:
        if self._console:
            self._console.flush()
        try:
            return self.console_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    @contextlib.contextmanager
    def inside_network(self):
        """Sockets (and threads) created in this block belong to the namespace's network.

        A network namespace is a per-thread setting: only the calling thread moves, and it moves
        back on exit; sockets keep the namespace they were made in.
        """
        if self.pid is None:
            raise SystemdHostError("systemd is not running")
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target, CLONE_NEWNET)
            try:
                yield
            finally:
                _setns(own, CLONE_NEWNET)
        finally:
            os.close(own)
            os.close(target)
