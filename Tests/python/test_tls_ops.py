"""TLS operations against the real `echo` and its workers, with a throwaway CA (tlsca.py):

- the certificate and key are checked before any worker starts (exit 78 with the reason) and before
  every reload (refused with the reason; the old workers keep serving the old certificate);
- a reload with a renewed certificate under a connect loop refuses nothing, and new handshakes
  present the new serial;
- the supervisor's session-ticket keys let a ticket from one worker resume on another, and the
  previous key still resumes after a rotation;
- the plain-HTTP redirect port: 308 to https, ACME challenge files, traversal refused;
- `%d/tls.key` (LoadCredential=) read against $CREDENTIALS_DIRECTORY.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from connect_loop import ConnectLoop
from conftest import BIN_DIR, PER_IP_LIMITS_OFF, EchoProcess, free_port, wait_for
from systemd_host import SystemdHost, SystemdHostError
from tlsca import Leaf, TestCA


# --- helpers -------------------------------------------------------------------------------------

class Handshake:
    """One TLS connection's facts: the serial the server presented, whether the session was
    resumed, which worker process holds the server end, and the session for the next try."""

    def __init__(self, serial: str, reused: bool, worker: int | None, session: ssl.SSLSession | None, status: bytes):
        self.serial = serial
        self.reused = reused
        self.worker = worker
        self.session = session
        self.status = status


def server_pid(port: int, client_port: int) -> int | None:
    """The pid of the process holding the server end of 127.0.0.1:client_port → :port."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} and dport = :{client_port} )"],
                         capture_output=True, text=True).stdout
    match = re.search(r"pid=(\d+)", out)
    return int(match.group(1)) if match else None


def handshake(port: int, context: ssl.SSLContext, session: ssl.SSLSession | None = None,
              find_worker: bool = False, timeout: float = 5.0) -> Handshake:
    """Connects, asks /health and reads the whole answer (a TLS 1.3 ticket arrives after the
    handshake, with the first records the server sends)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        tls = context.wrap_socket(raw, server_hostname="localhost", session=session)
    except BaseException:
        raw.close()
        raise
    with tls:
        worker = server_pid(port, tls.getsockname()[1]) if find_worker else None
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        serial = tls.getpeercert()["serialNumber"]
        return Handshake(serial, tls.session_reused, worker, tls.session, answer.split(b"\r\n", 1)[0])


def wait_tls_healthy(echo: EchoProcess, context: ssl.SSLContext, timeout: float = 30.0):
    def ok():
        assert echo.proc.poll() is None, f"echo exited with {echo.proc.returncode}:\n{echo.logs()}"
        try:
            return handshake(echo.port, context, timeout=1).status == b"HTTP/1.1 200 OK"
        except OSError:
            return False
    wait_for(ok, timeout=timeout, what="https /health")
    return echo


def reload(runtime: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN_DIR / "echo"), "reload", "--runtime-dir", str(runtime)],
                          capture_output=True, text=True, timeout=90)


def install(leaf, live: Path, key_from=None):
    """Puts `leaf`'s chain and key where the running echo reads them, as a renewal would
    (`key_from`: another leaf's key instead, a renewal gone wrong)."""
    live.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(leaf.chain, live / "fullchain.pem")
    shutil.copyfile((key_from or leaf).key, live / "privkey.pem")
    return live / "fullchain.pem", live / "privkey.pem"


def start_plain_echo(redis_server, name: str, env: dict, workers: int = 2) -> EchoProcess:
    """`echo` started directly (not through start_echo): for starts that are meant to fail."""
    env = {"REDIS_URL": redis_server.url, "ECHO_RATE_LIMIT": "0", **PER_IP_LIMITS_OFF, **env}
    return EchoProcess("echo", free_port(), env, ["--workers", str(workers)], name)


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def tls_echo(start_echo, ca, tmp_path):
    """echo with 2 workers serving a certificate of serial 0x1001 from live/ (reload-able), its
    runtime directory known to `echo reload`. Extra settings as keyword arguments."""
    def start(workers=2, **env):
        leaf = ca.issue(serial=0x1001)
        cert, key = install(leaf, tmp_path / "live")
        runtime = tmp_path / "run"
        echo = start_echo(workers=workers, wait=False, args=["--runtime-dir", str(runtime)],
                          ECHO_TLS_CERT=str(cert), ECHO_TLS_KEY=str(key), **env)
        echo.runtime = runtime
        echo.live = tmp_path / "live"
        return wait_tls_healthy(echo, ca.context())
    return start


# --- the check before starting -------------------------------------------------------------------

def test_a_key_that_does_not_match_stops_echo_with_78_before_any_worker(redis_server, ca):
    a, b = ca.issue(serial=0x2001), ca.issue(serial=0x2002)
    echo = start_plain_echo(redis_server, "echo-tls-mismatch", {"ECHO_TLS_CERT": str(a.chain), "ECHO_TLS_KEY": str(b.key)})
    try:
        assert echo.proc.wait(20) == 78, echo.logs()
        logs = echo.logs()
        assert "does not match" in logs and str(b.key) in logs, logs
        assert "started worker" not in logs, logs
    finally:
        echo.stop()


@pytest.mark.parametrize("case", ["cert-only", "key-only", "redirect-without-tls", "missing-file", "credential-outside-systemd"])
def test_tls_settings_that_cannot_work_stop_echo_with_78(redis_server, ca, tmp_path, case):
    leaf = ca.issue(serial=0x2003)
    env, reason = {
        # No ECHO_TLS_KEY: the key is looked for in the certificate's file, and is not there.
        "cert-only": ({"ECHO_TLS_CERT": str(leaf.chain)}, f"reading the private key {leaf.chain}"),
        "key-only": ({"ECHO_TLS_KEY": str(leaf.key)}, "without ECHO_TLS_CERT"),
        "redirect-without-tls": ({"ECHO_HTTP_REDIRECT_PORT": str(free_port())}, "ECHO_HTTP_REDIRECT_PORT"),
        "missing-file": ({"ECHO_TLS_CERT": str(tmp_path / "nope.pem"), "ECHO_TLS_KEY": str(leaf.key)}, "nope.pem"),
        "credential-outside-systemd": ({"ECHO_TLS_CERT": str(leaf.chain), "ECHO_TLS_KEY": "%d/tls.key"}, "CREDENTIALS_DIRECTORY"),
    }[case]
    echo = start_plain_echo(redis_server, f"echo-tls-{case}", env)
    try:
        assert echo.proc.wait(20) == 78, echo.logs()
        assert reason in echo.logs(), echo.logs()
    finally:
        echo.stop()


def test_one_pem_with_chain_and_key_serves_without_echo_tls_key(start_echo, ca, tmp_path):
    leaf = ca.issue(serial=0x2005)
    both = tmp_path / "both.pem"
    both.write_bytes(leaf.chain.read_bytes() + leaf.key.read_bytes())
    echo = start_echo(workers=1, wait=False, ECHO_TLS_CERT=str(both))
    wait_tls_healthy(echo, ca.context())
    assert handshake(echo.port, ca.context()).serial == "2005"


def test_a_key_from_the_credentials_directory_reaches_the_workers_as_an_absolute_path(start_echo, ca, tmp_path):
    """What `LoadCredential=tls.key:...` plus `ECHO_TLS_KEY=%d/tls.key` in echo.env amounts to:
    systemd sets $CREDENTIALS_DIRECTORY, which an environment file cannot expand; echo does."""
    leaf = ca.issue(serial=0x2004)
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    shutil.copyfile(leaf.key, credentials / "tls.key")
    (credentials / "tls.key").chmod(0o400)
    env_file = tmp_path / "echo.env"
    env_file.write_text(f"ECHO_TLS_CERT={leaf.chain}\nECHO_TLS_KEY=%d/tls.key\n")
    echo = start_echo(workers=1, wait=False, args=["--env-file", str(env_file)], CREDENTIALS_DIRECTORY=str(credentials))
    wait_tls_healthy(echo, ca.context())
    assert handshake(echo.port, ca.context()).serial == "2004"
    worker = int(subprocess.run(["pgrep", "-P", str(echo.proc.pid), "echo-worker"], capture_output=True, text=True).stdout.split()[0])
    environ = dict(e.split(b"=", 1) for e in Path(f"/proc/{worker}/environ").read_bytes().split(b"\0") if b"=" in e)
    assert environ[b"ECHO_TLS_KEY"] == str(credentials / "tls.key").encode()


# --- reloads -------------------------------------------------------------------------------------

class TLSConnectLoop(ConnectLoop):
    """ConnectLoop over TLS: each attempt handshakes, asks /health and disconnects; a result is
    (start, outcome, the serial presented)."""

    def __init__(self, port: int, context: ssl.SSLContext, threads: int = 4, start_in=None):
        super().__init__(port, threads=threads, start_in=start_in)
        self.context = context

    def _attempt(self):
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return "refused", None
        try:
            result = handshake_on(raw, self.context)
            return ("ok" if result[0] == b"HTTP/1.1 200 OK" else "broken"), result[1]
        except (OSError, ssl.SSLError):
            return "broken", None

    def _run(self):
        while not self.stop_flag.is_set():
            started = time.monotonic()
            outcome, serial = self._attempt()
            with self.lock:
                self.results.append((started, outcome, serial))

    def summary(self, after: float):
        outcomes = [o for _, o, _ in self.results]
        serials_after = {s for t, o, s in self.results if t > after and o == "ok"}
        return outcomes, serials_after


def handshake_on(raw: socket.socket, context: ssl.SSLContext):
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        return answer.split(b"\r\n", 1)[0], tls.getpeercert()["serialNumber"]


def test_a_reload_with_a_renewed_certificate_refuses_nothing_and_serves_the_new_serial(tls_echo, ca):
    echo = tls_echo(workers=2)
    assert handshake(echo.port, ca.context()).serial == "1001"
    renewed = ca.issue(serial=0x1002)
    with TLSConnectLoop(echo.port, ca.context()) as loop:
        time.sleep(0.5)
        install(renewed, echo.live)
        started = time.monotonic()
        done = reload(echo.runtime)
        finished = time.monotonic()
        time.sleep(0.5)
    assert done.returncode == 0, done.stderr
    outcomes = [o for _, o, _ in loop.results]
    after = [s for t, o, s in loop.results if t > finished and o == "ok"]
    print(f"renewal reload: {finished - started:.2f}s, {len(outcomes)} handshakes, "
          f"refused {outcomes.count('refused')}, broken {outcomes.count('broken')}, after it {len(after)}")
    assert outcomes.count("refused") == 0 and outcomes.count("broken") == 0, loop.results[-20:]
    assert after and set(after) == {"1002"}, after
    assert "1002" in echo.logs()  # the supervisor logged the serial it checked


def test_a_reload_with_a_key_that_does_not_match_is_refused_and_the_old_certificate_stays(tls_echo, ca):
    echo = tls_echo(workers=2)
    before = sorted(int(p) for p in subprocess.run(["pgrep", "-P", str(echo.proc.pid), "echo-worker"],
                                                    capture_output=True, text=True).stdout.split())
    wrong = ca.issue(serial=0x1003)
    install(wrong, echo.live, key_from=ca.issue(serial=0x1004))
    failed = reload(echo.runtime)
    assert failed.returncode != 0
    assert "does not match" in failed.stderr, failed.stderr
    assert "reload failed" in echo.logs() and "does not match" in echo.logs()
    # Nothing was replaced, and the old certificate is still what clients get.
    now = sorted(int(p) for p in subprocess.run(["pgrep", "-P", str(echo.proc.pid), "echo-worker"],
                                                 capture_output=True, text=True).stdout.split())
    assert now == before
    assert handshake(echo.port, ca.context()).serial == "1001"

    # Fixed: the next reload goes through.
    install(wrong, echo.live)
    assert reload(echo.runtime).returncode == 0
    assert handshake(echo.port, ca.context()).serial == "1003"


# --- session tickets across workers --------------------------------------------------------------

def resumption_on_another_worker(port: int, context: ssl.SSLContext, first: Handshake, attempts: int = 60):
    """Reconnects with `first`'s session until a different worker answers; returns that handshake."""
    for _ in range(attempts):
        again = handshake(port, context, session=first.session, find_worker=True)
        if again.worker is not None and again.worker != first.worker:
            return again
    raise AssertionError(f"no other worker answered in {attempts} connections")


def test_a_ticket_from_one_worker_resumes_on_another(tls_echo, ca):
    echo = tls_echo(workers=2)
    context = ca.context()
    first = handshake(echo.port, context, find_worker=True)
    assert not first.reused and first.worker is not None and first.session is not None
    other = resumption_on_another_worker(echo.port, context, first)
    assert other.reused, "the other worker did not resume the first worker's ticket"


def test_a_ticket_from_before_a_reload_resumes_on_the_new_workers(tls_echo, ca):
    """The keys are the supervisor's, not the workers': a rolling reload replaces every worker and
    costs no client a full handshake."""
    echo = tls_echo(workers=2)
    context = ca.context()
    first = handshake(echo.port, context, find_worker=True)
    assert reload(echo.runtime).returncode == 0
    after = [handshake(echo.port, context, session=first.session, find_worker=True) for _ in range(6)]
    assert first.worker not in {h.worker for h in after}
    assert all(h.reused for h in after), [(h.worker, h.reused) for h in after]


def test_the_previous_ticket_key_still_resumes_after_one_rotation_not_after_two(tls_echo, ca):
    echo = tls_echo(workers=2, ECHO_TLS_TICKET_ROTATION="3")
    context = ca.context()

    def rotations():
        return echo.logs().count("session-ticket key rotated")

    # Right after a rotation, so the next one is a full interval away.
    seen = rotations()
    wait_for(lambda: rotations() > seen, timeout=10, what="a rotation")
    ticket = handshake(echo.port, context)
    assert handshake(echo.port, context, session=ticket.session).reused

    seen = rotations()
    wait_for(lambda: rotations() > seen, timeout=10, what="the next rotation")
    # The ticket's key is now the previous one: it still decrypts, on every worker.
    after_one = [handshake(echo.port, context, session=ticket.session, find_worker=True) for _ in range(6)]
    assert all(h.reused for h in after_one), [(h.worker, h.reused) for h in after_one]

    seen = rotations()
    wait_for(lambda: rotations() > seen, timeout=10, what="a second rotation")
    assert not handshake(echo.port, context, session=ticket.session).reused


# --- the redirect port ---------------------------------------------------------------------------

def plain_request(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return lines[0], headers, body


def test_the_redirect_port_sends_plain_http_to_https_and_serves_acme_challenges(tls_echo, tmp_path):
    webroot = tmp_path / "acme"
    challenges = webroot / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / "Tok-en_123").write_bytes(b"Tok-en_123.thumbprint")
    (tmp_path / "secret").write_text("do not serve")
    redirect_port = free_port()
    echo = tls_echo(workers=2, ECHO_HTTP_REDIRECT_PORT=str(redirect_port), ECHO_ACME_WEBROOT=str(webroot))

    status, headers, _ = plain_request(redirect_port, b"GET /room/x?since=5 HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % redirect_port)
    assert status == "HTTP/1.1 308 Permanent Redirect"
    assert headers["location"] == f"https://localhost:{echo.port}/room/x?since=5"
    status, headers, _ = plain_request(redirect_port, b"POST / HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 0\r\n\r\n")
    assert status.startswith("HTTP/1.1 308") and headers["location"] == f"https://[::1]:{echo.port}/"

    status, headers, body = plain_request(redirect_port, b"GET /.well-known/acme-challenge/Tok-en_123 HTTP/1.1\r\nHost: chat.example.org\r\n\r\n")
    assert status == "HTTP/1.1 200 OK" and body == b"Tok-en_123.thumbprint"

    for target in (b"/.well-known/acme-challenge/../../secret", b"/.well-known/acme-challenge/%2e%2e%2f%2e%2e%2fsecret",
                   b"/.well-known/acme-challenge/missing", b"/.well-known/acme-challenge/"):
        status, _, body = plain_request(redirect_port, b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert status.startswith("HTTP/1.1 404") and b"do not serve" not in body, target

    for host in (b"evil.example/x", b"a@b", b"", b"localhost:99999"):
        status, headers, _ = plain_request(redirect_port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert status.startswith("HTTP/1.1 400") and "location" not in headers, host

    # One socket per slot, held by echo and adopted by that slot's worker (fd 5), like the main port.
    out = subprocess.run(["ss", "-Htlnp", f"( sport = :{redirect_port} )"], capture_output=True, text=True).stdout
    sockets = [l for l in out.splitlines() if l.strip()]
    workers = {re.search(r'"echo-worker",pid=(\d+),fd=5', l).group(1) for l in sockets}
    assert len(sockets) == 2 and len(workers) == 2 and all(f"pid={echo.proc.pid}," in l for l in sockets), out


# --- under systemd: LoadCredential= and a renewal's reload -----------------------------------------

def reissue(ca: TestCA, leaf: Leaf, serial: int) -> Leaf:
    """A renewal with `certbot --reuse-key`: a new certificate (new serial) for the same key."""
    folder = ca.folder
    csr, cert, chain = folder / f"re-{serial:x}.csr", folder / f"re-{serial:x}.crt", folder / f"re-{serial:x}-chain.pem"
    subprocess.run(["openssl", "req", "-new", "-key", str(leaf.key), "-out", str(csr), "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
                    "-set_serial", str(serial), "-days", "2", "-sha256",
                    "-extfile", str(folder / f"leaf-{leaf.serial:x}.ext"), "-out", str(cert)],
                   check=True, capture_output=True)
    chain.write_bytes(cert.read_bytes() + ca.cert.read_bytes())
    return Leaf(cert=cert, key=leaf.key, chain=chain, serial=serial)


@pytest.mark.skipif(os.geteuid() != 0, reason="booting systemd needs root")
def test_under_systemd_the_key_is_a_credential_and_a_renewal_reloads_with_nothing_refused(ca):
    """The shipped unit and echo.env under a real systemd, plus docs/operations.md's TLS setup:
    `LoadCredential=tls.key:/etc/echo/tls/privkey.pem` (the key 0600 root: the dynamic user could
    not open it) and `ECHO_TLS_KEY=%d/tls.key`; certbot's deploy hook played by hand (the new chain
    in place, then `systemctl reload echo`)."""
    try:
        host = SystemdHost("tls-live")
    except SystemdHostError as e:
        pytest.skip(str(e))
    leaf = ca.issue(serial=0x3001)
    tls = host.stage / "etc/echo/tls"
    tls.mkdir(parents=True)
    shutil.copyfile(leaf.chain, tls / "fullchain.pem")
    shutil.copyfile(leaf.key, tls / "privkey.pem")
    (tls / "privkey.pem").chmod(0o600)
    env = host.stage / "etc/echo/echo.env"
    env.write_text(env.read_text() + "ECHO_TLS_CERT=/etc/echo/tls/fullchain.pem\nECHO_TLS_KEY=%d/tls.key\n")
    host.add_drop_in("echo.service", "tls.conf", "[Service]\nLoadCredential=tls.key:/etc/echo/tls/privkey.pem\n")
    try:
        host.boot()
    except SystemdHostError as e:
        host.shutdown()
        if "unshare failed" in str(e):
            pytest.skip(f"cannot create namespaces here: {e}")
        raise
    context = ca.context()

    def serial():
        with host.inside_network():
            return handshake(8080, context).serial

    with host:
        host.run(["sysctl", "-q", "-w", "net.ipv4.tcp_migrate_req=1"])
        started = host.systemctl("start", "echo", check=False)
        assert started.returncode == 0, host.journal("echo")[-3000:]
        assert serial() == "3001"
        # The workers were handed the credential's absolute path, not "%d/...".
        worker = next(p for p in host.children(host.main_pid()) if host.command_name(p).startswith("echo-worker"))
        environ = host.run(["cat", f"/proc/{worker}/environ"]).stdout.split("\0")
        assert "ECHO_TLS_KEY=/run/credentials/echo.service/tls.key" in environ

        # certbot --reuse-key, then its deploy hook: the new chain in place, systemctl reload echo.
        host.write_file("/etc/echo/tls/fullchain.pem", reissue(ca, leaf, 0x3002).chain.read_text(), 0o644)
        with TLSConnectLoop(8080, context, threads=3, start_in=host.inside_network) as loop:
            time.sleep(0.5)
            started = time.monotonic()
            host.systemctl("reload", "echo")
            finished = time.monotonic()
            time.sleep(0.5)
        outcomes, after = loop.summary(finished)
        print(f"systemctl reload with a renewed certificate: {finished - started:.2f}s, {len(outcomes)} handshakes, "
              f"refused {outcomes.count('refused')}, broken {outcomes.count('broken')}")
        assert outcomes.count("refused") == 0 and outcomes.count("broken") == 0
        assert after == {"3002"}, after

        # A renewal that made a new key: the credential is the copy systemd made at start, so the
        # reload is refused, the journal and STATUS= say why, and the old certificate keeps serving.
        fresh = ca.issue(serial=0x3003)
        host.write_file("/etc/echo/tls/fullchain.pem", fresh.chain.read_text(), 0o644)
        host.write_file("/etc/echo/tls/privkey.pem", fresh.key.read_text(), 0o600)
        cursor = host.journal_cursor()
        refused = host.systemctl("reload", "echo", check=False)
        assert refused.returncode != 0
        journal = host.journal("echo", since_cursor=cursor)
        assert "does not match" in journal and "reload failed" in journal, journal[-3000:]
        assert host.show("echo", "ActiveState")["ActiveState"] == "active"
        assert "does not match" in host.show("echo", "StatusText")["StatusText"]
        assert serial() == "3002"

        # A restart copies the credential again.
        host.systemctl("restart", "echo")
        assert serial() == "3003"


def test_a_reload_under_a_redirect_port_connect_loop_refuses_nothing(tls_echo):
    """The supervisor holds each slot's redirect socket, as it holds the main one: a reload hands it
    from the old worker to the new one, and nothing queued on it is reset (when each worker bound
    the port itself, the old worker's close reset about one request per reload at 1,000 req/s,
    with net.ipv4.tcp_migrate_req=0)."""
    redirect_port = free_port()
    echo = tls_echo(workers=2, ECHO_HTTP_REDIRECT_PORT=str(redirect_port))
    outcomes: list[str] = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                status, _, _ = plain_request(redirect_port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                outcomes.append("ok" if status.startswith("HTTP/1.1 308") else "broken")
            except ConnectionRefusedError:
                outcomes.append("refused")
            except OSError:
                outcomes.append("broken")

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for _ in range(2):
        assert reload(echo.runtime).returncode == 0
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(10)
    print(f"redirect port across 2 reloads: {len(outcomes)} requests, refused {outcomes.count('refused')}, "
          f"broken {outcomes.count('broken')}")
    assert outcomes.count("refused") == 0 and outcomes.count("broken") == 0


def test_redirect_sockets_follow_the_slots_when_scaling(tls_echo):
    redirect_port = free_port()
    echo = tls_echo(workers=2, ECHO_HTTP_REDIRECT_PORT=str(redirect_port))

    def sockets():
        out = subprocess.run(["ss", "-Htln", f"( sport = :{redirect_port} )"], capture_output=True, text=True).stdout
        return len([l for l in out.splitlines() if l.strip()])

    echo.signal(signal.SIGTTIN)
    wait_for(lambda: sockets() == 3, what="a third redirect socket")
    echo.signal(signal.SIGTTOU)
    wait_for(lambda: sockets() == 2, what="back to two redirect sockets")
    status, headers, _ = plain_request(redirect_port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status.startswith("HTTP/1.1 308") and headers["location"] == f"https://localhost:{echo.port}/"
