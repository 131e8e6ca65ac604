"""Echo against a Redis that speaks only TLS (`rediss://`), for real: Debian's redis-server with
`--port 0 --tls-port P` and a certificate from a throwaway CA (conftest's `redis_tls_server`).

Both Redis connections of every worker (commands and pub/sub) must verify the server's certificate
(ECHO_REDIS_CA) and its name (the URL's host, or ECHO_REDIS_TLS_SERVER_NAME). A Redis that does not
verify is refused: chat is unavailable, the log and the admin `/health` say why.
"""
from __future__ import annotations

import json
import re

from conftest import free_port, http_get, wait_for
from test_protocol import joined, room
from tlsca import TestCA
from wsclient import Client, carries


def admin_health(process):
    status, _, body = http_get(process.admin_base + "/health", timeout=2)
    return status, json.loads(body)


def redis_down_because(process, timeout=20.0):
    """Waits until the worker's admin /health says Redis is down and why; returns the reason."""
    def reason():
        assert process.proc.poll() is None, f"{process.name} exited:\n{process.logs()}"
        status, health = admin_health(process)
        return status == 503 and health["redis"] == "disconnected" and health.get("redisError")
    return wait_for(reason, timeout=timeout, what="/health naming why Redis is down")


def worker_connections(redis):
    """The clients Redis serves, without the redis-cli asking."""
    lines = redis.cli("CLIENT", "LIST").splitlines()
    return [line for line in lines if "cmd=client|list" not in line]


def assert_chat_refused(process):
    """The public /health says unavailable and a join gets UNAVAILABLE."""
    status, _, body = http_get(process.base + "/health", timeout=2)
    assert status == 503 and json.loads(body) == {"status": "unavailable"}
    client = Client(process.ws_url)
    try:
        answer = client.join(room(), "ann", action="create")
        assert answer.get("type") == "error" and answer.get("code") == "UNAVAILABLE", answer
    finally:
        client.close()


def test_two_workers_chat_over_a_tls_only_redis(redis_tls_server, start_worker):
    tls = {"ECHO_REDIS_CA": str(redis_tls_server.ca.cert)}
    w1 = start_worker(redis_url=redis_tls_server.url, **tls)
    w2 = start_worker(redis_url=redis_tls_server.url, **tls)
    # Redis listens only on its TLS port, so every one of these connections speaks TLS:
    # commands and pub/sub for each worker.
    clients = worker_connections(redis_tls_server)
    assert len(clients) == 4, clients
    assert sum("name=echo-worker" in line for line in clients) == 2, clients
    assert all(admin_health(w)[1]["redis"] == "connected" for w in (w1, w2))

    r = room()
    a, _ = joined(w1.ws_url, r, "alice", action="create")
    b, _ = joined(w2.ws_url, r, "bob")
    a.chat(r, "hello over rediss")
    assert b.next_chat()["text"] == "hello over rediss"
    b.chat(r, "and back")
    assert a.recv_until(lambda f: f.get("text") == "and back")["sender"] == "bob"
    b.close()

    # History comes back from the TLS Redis on the other worker.
    c, history = joined(w1.ws_url, r, "bob")
    texts = [m["text"] for m in history["messages"]]
    assert texts[-2:] == ["hello over rediss", "and back"], texts
    a.close()
    c.close()


def test_a_worker_reconnects_over_tls_after_redis_restarts(redis_tls_server, start_worker):
    w = start_worker(redis_url=redis_tls_server.url, ECHO_REDIS_CA=str(redis_tls_server.ca.cert))
    r = room()
    a, _ = joined(w.ws_url, r, "alice", action="create")
    redis_tls_server.stop()
    wait_for(lambda: http_get(w.base + "/health")[0] == 503, what="/health 503 while Redis is down")
    # First the lost connection ("connection closed"), then the next attempt's reason.
    wait_for(lambda: "refused" in (admin_health(w)[1].get("redisError") or "").lower(), what="/health: refused")
    redis_tls_server.start()
    wait_for(lambda: http_get(w.base + "/health")[0] == 200, timeout=15, what="/health 200 after Redis is back")
    assert len(worker_connections(redis_tls_server)) == 2
    assert "redisError" not in admin_health(w)[1]
    # Redis came back empty: the room is gone, so alice's chat is refused or answered, never lost
    # silently. bob's chat reaches him live, or in the history he is reset to (recovered:false)
    # when the worker notices the lost data (a new epoch) after his join.
    b, _ = joined(w.ws_url, r, "bob", action="create")
    b.chat(r, "after the restart")
    got = b.recv_until(lambda f: carries(f, "after the restart"))
    assert got.get("type") != "history" or got["recovered"] is False
    a.close()
    b.close()


def test_the_supervisor_hands_the_redis_tls_settings_to_its_workers(redis_tls_server, start_echo):
    echo = start_echo(workers=2, redis_url=redis_tls_server.url, ECHO_REDIS_CA=str(redis_tls_server.ca.cert))
    wait_for(lambda: len(worker_connections(redis_tls_server)) == 4, what="two workers' Redis connections")
    r = room()
    members = [joined(echo.ws_url, r, f"m{i}", action="create" if i == 0 else "join")[0] for i in range(6)]
    members[0].chat(r, "to everyone")
    for m in members[1:]:
        assert m.next_chat()["text"] == "to everyone"
    for m in members:
        m.close()


def test_a_wrong_ca_is_refused_and_health_says_why(redis_tls_server, start_worker, tmp_path):
    other = TestCA(tmp_path / "other-ca", name="Not The Redis CA")
    w = start_worker(redis_url=redis_tls_server.url, wait=False, ECHO_REDIS_CA=str(other.cert))
    why = redis_down_because(w)
    assert "TLS handshake failed" in why and "certificate verify failed" in why, why
    assert "certificate verify failed" in w.logs()
    # A retry may be mid-handshake at this instant; none gets as far as logging in and naming itself.
    assert not any("name=echo-worker" in line for line in worker_connections(redis_tls_server))
    assert_chat_refused(w)


def test_a_wrong_server_name_is_refused(redis_tls_server, start_worker):
    w = start_worker(redis_url=redis_tls_server.url, wait=False, ECHO_REDIS_CA=str(redis_tls_server.ca.cert),
                     ECHO_REDIS_TLS_SERVER_NAME="redis.example.org")
    why = redis_down_because(w)
    assert why == "TLS handshake failed: certificate verify failed (hostname mismatch)", why
    # A retry may be mid-handshake at this instant; none gets as far as logging in and naming itself.
    assert not any("name=echo-worker" in line for line in worker_connections(redis_tls_server))
    assert_chat_refused(w)


def test_the_system_cas_do_not_trust_a_private_ca(redis_tls_server, start_worker):
    # No ECHO_REDIS_CA: the system's CAs, which never signed the test CA.
    w = start_worker(redis_url=redis_tls_server.url, wait=False)
    why = redis_down_because(w)
    assert "certificate verify failed" in why, why


def test_an_acl_user_logs_in_over_rediss(redis_tls_server, start_worker):
    assert redis_tls_server.cli("ACL", "SETUSER", "echo", "on", ">s3cret p@ss", "~*", "&*", "+@all") == "OK"
    tls = {"ECHO_REDIS_CA": str(redis_tls_server.ca.cert)}
    # The password is percent-encoded in the URL (a space and an @).
    w = start_worker(redis_url=f"rediss://echo:s3cret%20p%40ss@localhost:{redis_tls_server.port}", **tls)
    clients = worker_connections(redis_tls_server)
    assert len(clients) == 2 and all(re.search(r"\buser=echo\b", line) for line in clients), clients
    r = room()
    a, _ = joined(w.ws_url, r, "alice", action="create")
    a.chat(r, "as echo")
    assert a.next_chat()["text"] == "as echo"
    a.close()

    wrong = start_worker(redis_url=f"rediss://echo:nope@localhost:{redis_tls_server.port}", wait=False, **tls)
    why = redis_down_because(wrong)
    assert "WRONGPASS" in why, why


def test_rediss_to_a_plain_redis_is_a_tls_error(redis_server, start_worker, tmp_path):
    ca = TestCA(tmp_path / "ca")
    w = start_worker(redis_url=f"rediss://localhost:{redis_server.port}", wait=False, ECHO_REDIS_CA=str(ca.cert))
    # A plain Redis takes the ClientHello for the start of an inline command and waits for the rest.
    why = redis_down_because(w)
    assert why.startswith("TLS handshake failed: no answer within"), why


def test_health_says_why_a_plain_redis_is_down(start_worker):
    port = free_port()
    w = start_worker(redis_url=f"redis://127.0.0.1:{port}", wait=False)
    why = redis_down_because(w)
    assert why == f"cannot connect to 127.0.0.1:{port}: Connection refused", why


def test_an_ip_address_in_the_url_is_checked_against_the_certificates_addresses(redis_tls_server, start_worker):
    # The certificate carries IP:127.0.0.1 (and DNS:localhost): the address itself must verify.
    w = start_worker(redis_url=f"rediss://127.0.0.1:{redis_tls_server.port}", ECHO_REDIS_CA=str(redis_tls_server.ca.cert))
    assert admin_health(w)[1]["redis"] == "connected"
    assert len(worker_connections(redis_tls_server)) == 2


def test_an_unreadable_ca_file_is_a_configuration_error(redis_tls_server, start_worker, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    w = start_worker(redis_url=redis_tls_server.url, wait=False, ECHO_REDIS_CA=str(missing))
    assert w.proc.wait(10) == 78
    assert f"reading the CA file {missing}" in w.logs()


def test_echo_stops_when_its_workers_cannot_read_the_redis_ca(redis_tls_server, start_echo, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    echo = start_echo(workers=2, redis_url=redis_tls_server.url, wait=False, ECHO_REDIS_CA=str(missing))
    assert echo.proc.wait(15) == 78
    logs = echo.logs()
    assert f"reading the CA file {missing}" in logs, logs
    assert logs.count("started worker") <= 2, "a worker that exited 78 was restarted"


def test_tls_settings_with_a_plain_redis_url_are_flagged(redis_server, start_worker, tmp_path):
    w = start_worker(redis_url=redis_server.url, ECHO_REDIS_CA=str(tmp_path / "ca.pem"))
    assert "apply to rediss:// only; this Redis connection is not encrypted" in w.logs()
