"""Issue 14: end-to-end encrypted rooms on the wire, against a real redis-server (or the Redis
Cluster `make test` starts) and two real echo-worker processes. The clients here do what Echo's
page does (HKDF, Ed25519, AES-256-GCM from the link's secret: docs/protocol.md), so the server is
checked for what it must do and for what it must never see: it checks a proof of the key without
learning it, routes and stores only ciphertext, and refuses every client that cannot prove the
key, Echo Chat's among them."""
from __future__ import annotations

import base64
import os
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import wait_for
from wsclient import Client, author_key

FEATURES = ["edit", "react"]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def room() -> str:
    return "e" + uuid.uuid4().hex[:15]


class RoomKey:
    """What a link's secret gives a client (docs/protocol.md, End-to-end encrypted rooms)."""

    def __init__(self, room_id: str, secret: bytes | None = None):
        self.room_id = room_id
        self.secret = secret or os.urandom(32)

        def derive(info: str) -> bytes:
            return HKDF(hashes.SHA256(), 32, ("echo-e2e-v1:" + room_id).encode(), info.encode()).derive(self.secret)

        self.message_key = derive("message")
        self.signing = Ed25519PrivateKey.from_private_bytes(derive("auth"))
        self.verifier = b64u(self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def proof(self, nonce: str, room_id: str | None = None) -> dict:
        signed = f"echo-e2e-v1 join\n{room_id or self.room_id}\n{nonce}".encode()
        return {"verifier": self.verifier, "proof": b64u(self.signing.sign(signed))}

    def seal(self, session_id: str, text: str, kind="chat", extra="") -> dict:
        header = ('{"text":%s}' % __import__("json").dumps(text)).encode()
        envelope = len(header).to_bytes(4, "big") + header
        iv = os.urandom(12)
        ad = f"echo-e2e-v1\n{self.room_id}\n{kind}\n{session_id}{extra}".encode()
        return {"ciphertext": b64u(AESGCM(self.message_key).encrypt(iv, envelope, ad)), "iv": b64u(iv)}

    def open(self, frame: dict, session_id: str, kind="chat", extra="") -> str:
        ad = f"echo-e2e-v1\n{self.room_id}\n{kind}\n{session_id}{extra}".encode()
        envelope = AESGCM(self.message_key).decrypt(unb64u(frame["iv"]), unb64u(frame["ciphertext"]), ad)
        n = int.from_bytes(envelope[:4], "big")
        return __import__("json").loads(envelope[4:4 + n])["text"]


def challenge(c: Client) -> str:
    c.send("challenge")
    frame = c.recv_until(lambda f: f.get("type") in ("challenge", "error"))
    assert frame["type"] == "challenge", frame
    assert len(unb64u(frame["nonce"])) == 32
    return frame["nonce"]


def join_encrypted(url, key: RoomKey, name, action="join", since=None, **extra):
    """challenge → join with the proof; returns (client, session, history) or (client, error, None)."""
    c = Client(url)
    payload = {"roomId": key.room_id, "username": name, "action": action, "features": FEATURES, "e2e": key.proof(challenge(c)), **extra}
    if since:
        payload["since"] = since
    c.send("join", **payload)
    session = c.recv_until(lambda f: f.get("type") in ("session", "error"))
    if session["type"] == "error":
        return c, session, None
    c.session_id = session["sessionId"]
    return c, session, c.recv_until(lambda f: f.get("type") == "history")


def error_of(c: Client, type_, **payload) -> str:
    c.send(type_, **payload)
    return c.next_error()["code"]


def sealed_chat(c: Client) -> dict:
    return c.recv_until(lambda f: f.get("type") == "chat")


def test_two_members_on_two_workers_exchange_only_ciphertext(workers, redis_server):
    w1, w2 = workers
    key = RoomKey(room())
    ada, session, history = join_encrypted(w1.ws_url, key, "ada", action="create", authorKey=author_key())
    assert session["encrypted"] is True
    assert session["limits"]["ciphertextBytes"] == session["limits"]["imageBytes"] + 16384
    assert history["messages"] == []
    bob, bob_session, _ = join_encrypted(w2.ws_url, key, "bob")
    assert bob_session["encrypted"] is True

    canary = "canary-" + uuid.uuid4().hex
    ada.send("chat", clientId="m1", **key.seal(ada.session_id, canary))
    for c in (ada, bob):
        frame = sealed_chat(c)
        assert set(frame) >= {"id", "messageId", "sender", "sessionId", "ciphertext", "iv", "timestamp", "clientId"}
        assert "text" not in frame and "image" not in frame and "replyTo" not in frame
        assert key.open(frame, frame["sessionId"]) == canary
    message_id = frame["id"]

    # A retry of the same clientId is not stored twice (idempotency works on ciphertext too).
    ada.send("chat", clientId="m1", **key.seal(ada.session_id, canary))
    ada.send("ping")
    assert ada.recv_until(lambda f: f.get("type") in ("pong", "chat"))["type"] == "pong"

    # An edit: ciphertext bound to the original message; history folds it in.
    edited = "edited-" + canary
    ada.send("edit", messageId=message_id, **key.seal(frame["sessionId"], edited, kind="edit", extra=f"\n{message_id}"))
    edit = bob.recv_until(lambda f: f.get("type") == "edit")
    assert "text" not in edit and key.open(edit, frame["sessionId"], kind="edit", extra=f"\n{message_id}") == edited
    # A reaction token: the server toggles it like an emoji.
    token = b64u(os.urandom(12 + 4 + 16))
    bob.send("react", messageId=message_id, emoji=token)
    react = ada.recv_until(lambda f: f.get("type") == "react")
    assert react["emoji"] == token and react["on"] is True
    assert error_of(bob, "react", messageId=message_id, emoji="👍") == "INVALID_PAYLOAD"

    # A later join's history carries the newest ciphertext and the token's reaction.
    carol, _, history = join_encrypted(w2.ws_url, key, "carol")
    [message] = [m for m in history["messages"] if m.get("id") == message_id]
    assert key.open(message, message["sessionId"], kind="edit", extra=f"\n{message_id}") == edited
    assert message["reactions"] == {token: ["bob"]}

    # Nothing readable is in Redis: every key of the room, every field and entry.
    dump = redis_dump(redis_server)
    assert canary not in dump and edited not in dump
    assert b64u(key.secret) not in dump and b64u(key.message_key) not in dump
    assert redis_server.cli("GET", f"room:{redis_server.tag(key.room_id)}:info") == "v:" + key.verifier
    for c in (ada, bob, carol):
        c.close()


def redis_dump(redis) -> str:
    """Every key's content as text: streams, strings, hashes, sets, sorted sets, lists."""
    out = []
    for name in " ".join(redis.on_primaries("--scan").values()).split():
        kind = redis.cli("TYPE", name)
        command = {"stream": ("XRANGE", name, "-", "+"), "string": ("GET", name), "hash": ("HGETALL", name),
                   "set": ("SMEMBERS", name), "zset": ("ZRANGE", name, "0", "-1"), "list": ("LRANGE", name, "0", "-1")}.get(kind)
        out.append(name)
        if command:
            out.append(redis.cli(*command))
    return "\n".join(out)


def test_a_client_without_the_key_cannot_get_in(workers):
    w1, w2 = workers
    key = RoomKey(room())
    ada, _, _ = join_encrypted(w1.ws_url, key, "ada", action="create")

    # Echo Chat's client (no e2e at all), whatever the action.
    for action in ("join", "create", "rejoin"):
        old = Client(w2.ws_url)
        assert old.join(key.room_id, "mallory", action=action)["code"] == "KEY_REQUIRED"
        old.close()
    # Another key (a link whose key part is wrong).
    _, refused, _ = join_encrypted(w2.ws_url, RoomKey(key.room_id), "mallory")
    assert refused["code"] == "BAD_KEY_PROOF"
    # The right verifier with a proof made for another room, or without a challenge, or replayed.
    c = Client(w2.ws_url)
    nonce = challenge(c)
    c.send("join", roomId=key.room_id, username="m", action="join", e2e=key.proof(nonce, room_id="elsewhere-123"))
    assert c.next_error()["code"] == "BAD_KEY_PROOF"
    proof = key.proof(challenge(c))
    stolen = Client(w1.ws_url)
    challenge(stolen)  # its own, different nonce
    stolen.send("join", roomId=key.room_id, username="m", action="join", e2e=proof)
    assert stolen.next_error()["code"] == "BAD_KEY_PROOF"
    fresh = Client(w1.ws_url)
    fresh.send("join", roomId=key.room_id, username="m", action="join", e2e=proof)
    assert fresh.next_error()["code"] == "BAD_KEY_PROOF"
    # Malformed e2e: INVALID_PAYLOAD.
    fresh.send("join", roomId=key.room_id, username="m", action="join", e2e={"verifier": "x", "proof": "y"})
    assert fresh.next_error()["code"] == "INVALID_PAYLOAD"
    # A proof of a key for a room that is plain: ROOM_NOT_ENCRYPTED (the page must not show it as encrypted).
    plain = room()
    owner = Client(w1.ws_url)
    owner.join(plain, "ada", action="create")
    _, refused, _ = join_encrypted(w2.ws_url, RoomKey(plain), "bob")
    assert refused["code"] == "ROOM_NOT_ENCRYPTED"
    # Joining a room that does not exist with a proof: not found (a join never creates).
    _, refused, _ = join_encrypted(w2.ws_url, RoomKey(room()), "bob")
    assert refused["code"] == "ROOM_NOT_FOUND"
    # The members inside are untouched: the room still works.
    ada.send("chat", **key.seal(ada.session_id, "still private"))
    assert key.open(sealed_chat(ada), ada.session_id) == "still private"


def test_plaintext_is_refused_in_an_encrypted_room_and_ciphertext_in_a_plain_one(workers):
    w1, _ = workers
    key = RoomKey(room())
    ada, session, _ = join_encrypted(w1.ws_url, key, "ada", action="create", authorKey=author_key())
    assert error_of(ada, "chat", message="hello in clear", clientId="p1") == "INVALID_PAYLOAD"
    assert error_of(ada, "chat", image="data:image/png;base64,iVBORw0KGgo=") == "INVALID_PAYLOAD"
    sealed = key.seal(ada.session_id, "x")
    assert error_of(ada, "chat", message="leak", **sealed) == "INVALID_PAYLOAD"
    assert error_of(ada, "chat", ciphertext=sealed["ciphertext"], iv="short") == "INVALID_PAYLOAD"
    # The largest ciphertext the limits allow passes (a 3 MiB image); one byte more does not.
    largest = session["limits"]["ciphertextBytes"]
    ada.send("chat", ciphertext=b64u(os.urandom(largest)), iv=sealed["iv"])
    assert len(unb64u(sealed_chat(ada)["ciphertext"])) == largest
    assert error_of(ada, "chat", ciphertext=b64u(os.urandom(largest + 1)), iv=sealed["iv"]) == "MESSAGE_TOO_LONG"

    plain = room()
    bob = Client(w1.ws_url)
    bob.join(plain, "bob", action="create")
    assert error_of(bob, "chat", **sealed) == "INVALID_PAYLOAD"
    assert error_of(bob, "react", messageId="1-0", emoji=b64u(os.urandom(40))) == "INVALID_PAYLOAD"


def test_a_resume_and_a_redis_that_lost_the_room_keep_it_encrypted(start_worker, redis_server):
    w = start_worker(ECHO_PRESENCE_TTL="3")  # a presence refresh each second
    key = RoomKey(room())
    ada, _, _ = join_encrypted(w.ws_url, key, "ada", action="create")
    for i in range(3):
        ada.send("chat", **key.seal(ada.session_id, f"m{i}"))
    ids = [sealed_chat(ada)["id"] for _ in range(3)]
    # A reconnect resumes after the first: the other two, decryptable.
    again, _, history = join_encrypted(w.ws_url, key, "ada", action="rejoin", since=ids[0])
    assert history["recovered"] is True
    assert [key.open(m, m["sessionId"]) for m in history["messages"] if m.get("type") == "chat"] == ["m1", "m2"]
    # Redis forgets the room's info key: the worker's refresh puts it back encrypted, so a client
    # without the key still cannot walk in.
    info = f"room:{redis_server.tag(key.room_id)}:info"
    redis_server.cli("DEL", info)
    wait_for(lambda: redis_server.cli("GET", info) == "v:" + key.verifier, timeout=5, what="the info key back")
    old = Client(w.ws_url)
    assert old.join(key.room_id, "mallory", action="join")["code"] == "KEY_REQUIRED"
