"""Issue 14: end-to-end encrypted rooms in real pages (Debian's chromium through Playwright) on two
workers of a real `echo`.

- web/crypto.js against published vectors, run in Chromium: HKDF-SHA-256 (RFC 5869 A.1-A.3),
  AES-256-GCM (McGrew & Viega's GCM spec, test cases 13-16), Ed25519 (RFC 8032 7.1, tests 1-2); and
  against an independent implementation (Python's `cryptography`): the keys a secret derives, the
  verifier, a sealed chat and edit, a reaction's token.
- Two pages chat in an encrypted room (text, image, reply, edit, reaction); a third with a wrong
  key is refused, a link without its key shows its screen; a reload and a kill -9 of a worker
  (resume) decrypt everything.
- Nothing plaintext leaves the page: every WebSocket frame and HTTP request of the session, then
  every Redis key, hold neither the secret, nor a derived key, nor a canary typed in the composer.
- Tampering: a flipped bit, and a valid ciphertext of room A replayed into room B, show exactly
  "message could not be decrypted".
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import pytest
from playwright.sync_api import expect

from test_browser import CHROMIUM, DESKTOP, PHONE, Tab, browser, echo, join_and_find_worker, png_bytes, tabs  # noqa: F401 (fixtures)
from test_browser_edit import serious_violations
from wsclient import Client, author_key

UNDECRYPTABLE = "message could not be decrypted"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------------------------------------
# The spec's derivations, written again from docs/protocol.md with another implementation


class ReferenceKeys:
    """What a room's secret derives (HKDF-SHA-256, salt "echo-e2e-v1:<roomId>"), by Python's `cryptography`."""

    def __init__(self, room_id: str, secret: str):
        self.room_id = room_id
        ikm = unb64url(secret)
        derive = lambda info: HKDF(hashes.SHA256(), 32, f"echo-e2e-v1:{room_id}".encode(), info.encode()).derive(ikm)
        self.message = derive("message")
        self.reaction = derive("reaction")
        self.reaction_iv = derive("reaction-iv")
        self.auth_seed = derive("auth")
        self.signer = Ed25519PrivateKey.from_private_bytes(self.auth_seed)
        self.verifier = b64url(self.signer.public_key().public_bytes_raw())

    def all_secrets(self) -> dict[str, bytes]:
        return {"message": self.message, "reaction": self.reaction, "reaction-iv": self.reaction_iv, "auth": self.auth_seed}

    def chat_ad(self, session_id: str) -> bytes:
        return f"echo-e2e-v1\n{self.room_id}\nchat\n{session_id}".encode()

    def edit_ad(self, session_id: str, message_id: str) -> bytes:
        return f"echo-e2e-v1\n{self.room_id}\nedit\n{session_id}\n{message_id}".encode()

    def open(self, ciphertext: str, iv: str, ad: bytes) -> tuple[dict, bytes]:
        plain = AESGCM(self.message).decrypt(unb64url(iv), unb64url(ciphertext), ad)
        n = int.from_bytes(plain[:4], "big")
        return json.loads(plain[4:4 + n]), plain[4 + n:]

    def seal(self, header: dict, image: bytes, ad: bytes, iv: bytes) -> tuple[str, str]:
        header_bytes = json.dumps(header).encode()
        plain = len(header_bytes).to_bytes(4, "big") + header_bytes + image
        return b64url(AESGCM(self.message).encrypt(iv, plain, ad)), b64url(iv)

    def reaction_token(self, message_id: str, emoji: str) -> str:
        mac = HMAC(self.reaction_iv, hashes.SHA256())
        mac.update(f"{message_id}\n{emoji}".encode())
        iv = mac.finalize()[:12]
        ad = f"echo-e2e-v1\n{self.room_id}\nreact\n{message_id}".encode()
        return b64url(iv + AESGCM(self.reaction).encrypt(iv, emoji.encode(), ad))

    def prove(self, nonce: str) -> str:
        return b64url(self.signer.sign(f"echo-e2e-v1 join\n{self.room_id}\n{nonce}".encode()))


# ------------------------------------------------------------------------------------------------
# Published test vectors

HKDF_VECTORS = [  # RFC 5869, Appendix A.1-A.3 (SHA-256)
    {"ikm": "0b" * 22, "salt": "000102030405060708090a0b0c", "info": "f0f1f2f3f4f5f6f7f8f9", "length": 42,
     "okm": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"ikm": bytes(range(0x00, 0x50)).hex(), "salt": bytes(range(0x60, 0xb0)).hex(), "info": bytes(range(0xb0, 0x100)).hex(),
     "length": 82,
     "okm": "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
            "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"ikm": "0b" * 22, "salt": "", "info": "", "length": 42,
     "okm": "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
]

_GCM_K = "feffe9928665731c6d6a8f9467308308" * 2
_GCM_IV = "cafebabefacedbaddecaf888"
_GCM_P = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_GCM_C = ("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad")
GCM_VECTORS = [  # McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16 (256-bit keys)
    {"case": 13, "key": "00" * 32, "iv": "00" * 12, "plain": "", "ad": "", "cipher": "", "tag": "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case": 14, "key": "00" * 32, "iv": "00" * 12, "plain": "00" * 16, "ad": "", "cipher": "cea7403d4d606b6e074ec5d3baf39d18",
     "tag": "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case": 15, "key": _GCM_K, "iv": _GCM_IV, "plain": _GCM_P, "ad": "", "cipher": _GCM_C, "tag": "b094dac5d93471bdec1a502270e3cc6c"},
    {"case": 16, "key": _GCM_K, "iv": _GCM_IV, "plain": _GCM_P[:120], "ad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "cipher": _GCM_C[:120], "tag": "76fc6ece0f4e1768cddf8853bb2d551b"},
]

ED25519_VECTORS = [  # RFC 8032, section 7.1, TEST 1 and TEST 2
    {"seed": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "public": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "message": "",
     "signature": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                  "d25bf5f0595bbe24655141438e7a100b"},
    {"seed": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "public": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "message": "72",
     "signature": "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
                  "387b2eaeb4302aeeb00d291612bb0c00"},
]

# Runs in the page: imports web/crypto.js as the page does and returns every problem found.
VECTORS_IN_THE_PAGE = r"""
async ({ hkdfVectors, gcmVectors, edVectors }) => {
  const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
  const c = await import(base + 'crypto.js');
  const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
  const toHex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  const problems = [];
  const check = (ok, what) => { if (!ok) problems.push(what); };
  const rejects = async (promise) => { try { await promise; return false; } catch (e) { return e instanceof c.Undecryptable; } };

  for (const [i, v] of hkdfVectors.entries()) {
    const okm = toHex(await c.hkdf(hex(v.ikm), hex(v.salt), hex(v.info), v.length));
    check(okm === v.okm, `HKDF RFC 5869 A.${i + 1}: ${okm}`);
  }
  for (const v of gcmVectors) {
    const key = await c.aesKey(hex(v.key));
    const sealed = toHex(await c.aesGcmSeal(key, hex(v.iv), hex(v.plain), hex(v.ad)));
    check(sealed === v.cipher + v.tag, `AES-GCM test case ${v.case}: ${sealed}`);
    const opened = toHex(await c.aesGcmOpen(key, hex(v.iv), hex(v.cipher + v.tag), hex(v.ad)));
    check(opened === v.plain, `AES-GCM test case ${v.case} opens: ${opened}`);
    const flipped = hex(v.cipher + v.tag);
    flipped[0] ^= 1;
    check(await rejects(c.aesGcmOpen(key, hex(v.iv), flipped, hex(v.ad))), `AES-GCM test case ${v.case}: a flipped bit is refused`);
    check(await rejects(c.aesGcmOpen(key, hex(v.iv), hex(v.cipher + v.tag), new Uint8Array([1]))),
          `AES-GCM test case ${v.case}: other additional data is refused`);
  }
  for (const [i, v] of edVectors.entries()) {
    const pair = await c.ed25519FromSeed(hex(v.seed));
    check(toHex(c.fromBase64url(pair.publicKey)) === v.public, `Ed25519 TEST ${i + 1} public key: ${pair.publicKey}`);
    const signature = toHex(await c.ed25519Sign(pair.privateKey, hex(v.message)));
    check(signature === v.signature, `Ed25519 TEST ${i + 1} signature: ${signature}`);
    check(!pair.privateKey.extractable, 'the signing key is not extractable');
  }

  // base64url: no padding, and nothing else is taken.
  check(c.toBase64url(hex('fbff')) === '-_8', 'base64url alphabet, no padding');
  check(c.isSecret(c.newSecret()) && c.newSecret() !== c.newSecret(), 'a new secret is 43 characters of 32 random bytes');
  for (const bad of ['a', 'ab=', 'a+b/', 'a b']) check(await rejects(Promise.resolve().then(() => c.fromBase64url(bad))), `not base64url: ${bad}`);
  const pattern = /^[A-Za-z0-9_-]{1,50}$/;
  const secret = c.newSecret();
  check(JSON.stringify(c.parseFragment('room1', pattern)) === '{"roomId":"room1","secret":null}', 'a plain link');
  check(c.parseFragment(`room1.${secret}`, pattern).secret === secret, 'an encrypted link');
  check(c.parseFragment(`room1.${secret.slice(0, 20)}`, pattern).secret === '', 'a link cut short has an empty secret');
  check(c.parseFragment('room1.', pattern).secret === '', 'a link without its key');
  check(c.parseFragment('bad room', pattern) === null, 'no room');

  // The envelope round trip: text, an image's raw bytes and type, a reply.
  const room = 'vectors-room-1';
  const keys = await c.RoomKeys.derive(room, secret);
  const limits = { messageLength: 2000, imageBytes: 3 * 1024 * 1024 };
  const png = hex('89504e470d0a1a0a0000000d49484452');
  const replyTo = { messageId: '1-0', sender: 'Ada', sessionId: 's-ada', preview: 'hi', isImage: false };
  const sealed = await keys.sealChat('s-1', { text: 'héllo 👋', image: { type: 'png', bytes: png }, replyTo });
  check(c.fromBase64url(sealed.iv).length === 12, 'a 12-byte IV');
  const again = await keys.sealChat('s-1', { text: 'héllo 👋' });
  check(again.iv !== sealed.iv, 'a fresh IV per message');
  const opened = await keys.openChat('s-1', sealed, limits);
  check(opened.text === 'héllo 👋' && opened.image.type === 'png' && toHex(opened.image.bytes) === toHex(png)
        && JSON.stringify(opened.replyTo) === JSON.stringify(replyTo), `round trip: ${JSON.stringify(opened)}`);
  check(await rejects(keys.openChat('s-2', sealed, limits)), 'another sender session does not open it');
  check(await rejects((await c.RoomKeys.derive('vectors-room-2', secret)).openChat('s-1', sealed, limits)), 'another room does not open it');
  const bytes = c.fromBase64url(sealed.ciphertext);
  for (const at of [0, 7, bytes.length - 1]) {
    const copy = bytes.slice();
    copy[at] ^= 0x10;
    check(await rejects(keys.openChat('s-1', { ciphertext: c.toBase64url(copy), iv: sealed.iv }, limits)), `a bit flipped at ${at} is refused`);
  }
  check(await rejects(keys.openChat('s-1', sealed, { ...limits, imageBytes: png.length - 1 })), 'an image over the limit is refused');
  const gif = await keys.sealChat('s-1', { text: '', image: { type: 'gif', bytes: png } });
  check(await rejects(keys.openChat('s-1', gif, limits)), 'an image whose bytes are not its type is refused');
  const edit = await keys.sealEdit('s-1', '5-0', 'edited');
  check(await keys.openEdit('s-1', '5-0', edit, limits) === 'edited', 'an edit opens');
  check(await rejects(keys.openEdit('s-1', '6-0', edit, limits)), 'an edit does not open on another message');
  check(await rejects(keys.openEdit('s-1', '5-0', sealed, limits)), 'a chat does not open as an edit');
  check(await rejects(keys.openChat('s-1', edit, limits)), 'an edit does not open as a chat');

  // Reaction tokens: deterministic per (room, message, emoji), different otherwise, 38-64 characters.
  const t1 = await keys.sealReaction('5-0', '👍');
  check(t1 === await keys.sealReaction('5-0', '👍'), 'the same reaction gives the same token');
  check(t1 !== await keys.sealReaction('6-0', '👍') && t1 !== await keys.sealReaction('5-0', '🎉'), 'another message or emoji gives another token');
  check(t1 !== await (await c.RoomKeys.derive('vectors-room-2', secret)).sealReaction('5-0', '👍'), 'another room gives another token');
  check(/^[A-Za-z0-9_-]{38,64}$/.test(t1), `token length: ${t1.length}`);
  check(await keys.openReaction('5-0', t1) === '👍', 'a token opens to its emoji');
  check(await rejects(keys.openReaction('6-0', t1)), 'a token does not open on another message');
  for (const emoji of ['⭐', '🏳️‍🌈', '👍🏽', '🧑🏽‍🚀']) {
    const token = await keys.sealReaction('5-0', emoji);
    check(/^[A-Za-z0-9_-]{38,64}$/.test(token) && await keys.openReaction('5-0', token) === emoji, `the token of ${emoji}: ${token.length}`);
  }
  // Longer than the 16 bytes a plain room's server takes: refused here too.
  check(await keys.sealReaction('5-0', '👨‍👩‍👧‍👦').then(() => false, () => true), 'a 25-byte emoji is no reaction');
  return problems;
}
"""


def vectors() -> dict:
    return {"hkdfVectors": HKDF_VECTORS, "gcmVectors": GCM_VECTORS, "edVectors": ED25519_VECTORS}


def test_crypto_module_against_published_vectors(tabs):
    tab = tabs().open()
    problems = tab.page.evaluate(VECTORS_IN_THE_PAGE, vectors())
    assert problems == [], "\n".join(problems)


# The page's derivation and sealing, for the independent implementation to check.
PAGE_SEALS = r"""
async ({ room, secret, image }) => {
  const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
  const c = await import(base + 'crypto.js');
  const keys = await c.RoomKeys.derive(room, secret);
  const bytes = Uint8Array.from(atob(image), (ch) => ch.charCodeAt(0));
  const replyTo = { messageId: '9-0', sender: 'Ada', sessionId: 's-ada', preview: 'the original', isImage: false };
  return {
    verifier: keys.verifier,
    proof: await keys.prove('bm9uY2U'),
    chat: await keys.sealChat('session-1', { text: 'a canary', image: { type: 'png', bytes }, replyTo }),
    edit: await keys.sealEdit('session-1', '12-3', 'edited text'),
    token: await keys.sealReaction('12-3', '🦜'),
    nonAscii: await keys.sealReaction('12-3', '👍🏽'),
  };
}
"""

# The page opens what the independent implementation sealed.
PAGE_OPENS = r"""
async ({ room, secret, chat, token }) => {
  const base = document.querySelector('script[type=module]').src.replace(/app\.js$/, '');
  const c = await import(base + 'crypto.js');
  const keys = await c.RoomKeys.derive(room, secret);
  const opened = await keys.openChat('session-2', chat, { messageLength: 2000, imageBytes: 1 << 20 });
  return { text: opened.text, replyTo: opened.replyTo, image: opened.image && { type: opened.image.type, size: opened.image.bytes.length },
           emoji: await keys.openReaction('7-1', token) };
}
"""


def test_page_crypto_matches_an_independent_implementation(tabs):
    tab = tabs().open()
    room, secret, image = "interop-room_1", b64url(bytes(range(32))), png_bytes()
    ref = ReferenceKeys(room, secret)
    got = tab.page.evaluate(PAGE_SEALS, {"room": room, "secret": secret, "image": base64.b64encode(image).decode()})

    assert got["verifier"] == ref.verifier
    ref.signer.public_key().verify(unb64url(got["proof"]), f"echo-e2e-v1 join\n{room}\nbm9uY2U".encode())
    Ed25519PublicKey.from_public_bytes(unb64url(got["verifier"])).verify(unb64url(got["proof"]), f"echo-e2e-v1 join\n{room}\nbm9uY2U".encode())
    assert len(got["proof"]) == 86

    header, picture = ref.open(got["chat"]["ciphertext"], got["chat"]["iv"], ref.chat_ad("session-1"))
    assert header == {"text": "a canary", "image": {"type": "png"},
                      "replyTo": {"messageId": "9-0", "sender": "Ada", "sessionId": "s-ada", "preview": "the original", "isImage": False}}
    assert picture == image
    header, picture = ref.open(got["edit"]["ciphertext"], got["edit"]["iv"], ref.edit_ad("session-1", "12-3"))
    assert header == {"text": "edited text"} and picture == b""
    assert got["token"] == ref.reaction_token("12-3", "🦜")
    assert got["nonAscii"] == ref.reaction_token("12-3", "👍🏽")

    ciphertext, iv = ref.seal({"text": "from python", "replyTo": {"messageId": "1-0", "sender": "Py", "preview": "x", "isImage": True}},
                              b"", ref.chat_ad("session-2"), bytes(12))
    opened = tab.page.evaluate(PAGE_OPENS, {"room": room, "secret": secret, "chat": {"ciphertext": ciphertext, "iv": iv},
                                            "token": ref.reaction_token("7-1", "🎉")})
    assert opened == {"text": "from python", "replyTo": {"messageId": "1-0", "sender": "Py", "preview": "x", "isImage": True},
                      "image": None, "emoji": "🎉"}


# ------------------------------------------------------------------------------------------------
# Pages in encrypted rooms, against the real server

def sent(tab: Tab, type_: str) -> list[dict]:
    return [f.get("payload", f) for f in map(json.loads, tab.sent_frames) if f.get("type") == type_]


def room_link(tab: Tab) -> tuple[str, str]:
    """(roomId, secret) from the address bar of a page in an encrypted room."""
    fragment = tab.page.evaluate("location.hash").lstrip("#")
    code, _, secret = fragment.partition(".")
    assert len(secret) == 43, fragment
    return code, secret


def create_encrypted(tab: Tab, name: str) -> tuple[str, str]:
    tab.open()
    expect(tab.page.locator("#encrypt-room")).to_be_checked()  # encrypted is the default
    tab.page.fill("#username", name)
    tab.page.click("#create-button")
    tab.wait_in_room()
    expect(tab.page.locator("#e2e-state")).to_be_visible()
    expect(tab.page.locator("#e2e-state")).to_have_text("end-to-end encrypted")
    return room_link(tab)


def open_link(tab: Tab, fragment: str, name: str):
    tab.open(f"/#{fragment}")
    expect(tab.page.locator("#room-code")).to_have_value(fragment)
    tab.page.fill("#username", name)
    tab.page.click("#join-button")


def join_encrypted(tab: Tab, code: str, secret: str, name: str):
    open_link(tab, f"{code}.{secret}", name)
    tab.wait_in_room()
    expect(tab.page.locator("#e2e-state")).to_be_visible()


def two_in_an_encrypted_room(tabs, echo):
    """Ada (desktop, dark) creates an encrypted room; Grace (phone, light) joins it on the other
    worker. Returns (ada, grace, code, secret, ada's worker pid)."""
    ada = tabs(viewport=DESKTOP, color_scheme="dark", encrypted=True)
    ada.open()
    ada.page.fill("#username", "Ada")
    ada_worker = join_and_find_worker(ada, echo, lambda: (ada.page.click("#create-button"), ada.wait_in_room()))
    code, secret = room_link(ada)
    for _ in range(12):
        grace = tabs(viewport=PHONE, color_scheme="light", encrypted=True)
        grace.open(f"/#{code}.{secret}")
        grace.page.fill("#username", "Grace")
        worker = join_and_find_worker(grace, echo, lambda: (grace.page.click("#join-button"), grace.wait_in_room()))
        if worker != ada_worker:
            return ada, grace, code, secret, ada_worker
        grace.page.click("#leave-button")
    raise AssertionError("both pages kept landing on the same worker")


def assert_proved(tab: Tab, ref: ReferenceKeys):
    """Every join the page sent followed a challenge and carries a proof of that challenge's nonce."""
    frames = [json.loads(f) for f in tab.sent_frames]
    nonces = [f["nonce"] for f in tab.frames("challenge")]
    joins = [f["payload"] for f in frames if f.get("type") == "join"]
    assert joins and len(nonces) >= len(joins), (len(nonces), len(joins))
    for join in joins:
        assert join["e2e"]["verifier"] == ref.verifier
        signature = unb64url(join["e2e"]["proof"])
        assert any(_verifies(ref, signature, nonce) for nonce in nonces), "a proof of no challenge the page got"


def _verifies(ref: ReferenceKeys, signature: bytes, nonce: str) -> bool:
    try:
        ref.signer.public_key().verify(signature, f"echo-e2e-v1 join\n{ref.room_id}\n{nonce}".encode())
        return True
    except Exception:
        return False


def test_two_pages_chat_in_an_encrypted_room(tabs, echo):
    ada, grace, code, secret, _ = two_in_an_encrypted_room(tabs, echo)
    ref = ReferenceKeys(code, secret)
    assert ada.frames("session")[-1]["encrypted"] is True
    assert isinstance(ada.frames("session")[-1]["limits"]["ciphertextBytes"], int)
    assert_proved(ada, ref)
    assert_proved(grace, ref)
    assert sent(ada, "join")[0]["action"] == "create"
    # The link shown and copied carries the key after the dot; the code copied does too.
    ada.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ada.page.click("#copy-link")
    expect(ada.page.locator(".toast", has_text="Room link copied")).to_have_count(1)
    assert ada.page.evaluate("navigator.clipboard.readText()") == f"{ada.base}/#{code}.{secret}"
    ada.page.click("#copy-code")
    expect(ada.page.locator(".toast", has_text="Room code copied")).to_have_count(1)
    assert ada.page.evaluate("navigator.clipboard.readText()") == f"{code}.{secret}"
    expect(ada.page.locator("#room-name")).to_have_text(code)

    # Text: the server carries only ciphertext, which the reference opens with the right AD.
    ada.send("hello Grace, this is sealed")
    grace.expect_text("hello Grace, this is sealed")
    chat = [f for f in grace.frames("chat") if "ciphertext" in f][-1]
    assert "text" not in chat and "image" not in chat and "replyTo" not in chat
    header, _ = ref.open(chat["ciphertext"], chat["iv"], ref.chat_ad(chat["sessionId"]))
    assert header == {"text": "hello Grace, this is sealed"}
    payload = sent(ada, "chat")[-1]
    assert set(payload) <= {"roomId", "username", "clientId", "ciphertext", "iv"}, payload

    # An image: its raw bytes and type in the envelope; the receiver shows it and can zoom it.
    image = png_bytes(rgb=(20, 120, 220))
    ada.page.set_input_files("#file-input", files=[{"name": "blue.png", "mimeType": "image/png", "buffer": image}])
    ada.page.locator("#composer-input").press("Enter")
    ada.wait_sent()
    received = grace.page.locator(".group.other .thumb img")
    expect(received).to_have_count(1)
    assert received.get_attribute("src") == "data:image/png;base64," + base64.b64encode(image).decode()
    sealed = [f for f in grace.frames("chat") if "ciphertext" in f][-1]
    header, picture = ref.open(sealed["ciphertext"], sealed["iv"], ref.chat_ad(sealed["sessionId"]))
    assert header == {"text": "", "image": {"type": "png"}} and picture == image

    # A reply: its quote travels inside the ciphertext.
    grace.bubble("hello Grace, this is sealed").locator(".reply-button").click()
    grace.send("a sealed reply")
    reply = ada.bubble("a sealed reply")
    expect(reply.locator(".quote")).to_contain_text("hello Grace, this is sealed")
    assert "replyTo" not in sent(grace, "chat")[-1]

    # An edit (Up in the empty box) of a message with a reply and an image: sealed for the
    # message's author session and id; the image and the quote stay.
    box = ada.page.locator("#composer-input")
    ada.bubble("a sealed reply").locator(".reply-button").click()
    ada.page.set_input_files("#file-input", files=[{"name": "red.png", "mimeType": "image/png", "buffer": png_bytes(rgb=(200, 30, 30))}])
    ada.send("to be edited")
    grace.expect_text("to be edited")
    box.press("ArrowUp")
    expect(box).to_have_value("to be edited")
    box.fill("edited, still sealed")
    box.press("Enter")
    for tab in (ada, grace):
        tab.expect_text("edited, still sealed")
        tab.expect_text("to be edited", count=0)
        expect(tab.bubble("edited, still sealed").locator(".edited")).to_have_text("(edited)")
        expect(tab.bubble("edited, still sealed").locator(".quote")).to_contain_text("a sealed reply")
        expect(tab.bubble("edited, still sealed").locator(".thumb img")).to_have_count(1)
    edit = sent(ada, "edit")[-1]
    assert set(edit) == {"messageId", "ciphertext", "iv"}, edit
    author = next(f["sessionId"] for f in ada.frames("chat") if f.get("id") == edit["messageId"])
    assert ref.open(edit["ciphertext"], edit["iv"], ref.edit_ad(author, edit["messageId"]))[0] == {"text": "edited, still sealed"}

    # A reaction: the server toggles a token; both pages show the emoji.
    grace.bubble("edited, still sealed").locator(".more-button").click()
    grace.page.locator("#popup-menu").get_by_role("menuitem", name="Add reaction…").click()
    grace.page.locator("#react-panel .reaction-quick .emoji-option").first.click()
    for tab in (ada, grace):
        expect(tab.bubble("edited, still sealed").locator('.reaction[data-emoji="👍"]')).to_have_text("👍1")
    react = sent(grace, "react")[-1]
    assert react == {"messageId": edit["messageId"], "emoji": ref.reaction_token(edit["messageId"], "👍")}
    # Ada's click on the chip adds hers (the same token), a second click takes it back.
    chip = ada.bubble("edited, still sealed").locator('.reaction[data-emoji="👍"]')
    chip.click()
    expect(chip).to_have_text("👍2")
    chip.click()
    expect(chip).to_have_text("👍1")

    # A reply quoting a message that is then deleted says "deleted" (the page knows, not the server).
    ada.send("soon gone")
    grace.expect_text("soon gone")
    grace.bubble("soon gone").locator(".reply-button").click()
    grace.send("quoting the doomed one")
    ada.bubble("soon gone").locator(".more-button").click()
    ada.page.locator("#popup-menu").get_by_role("menuitem", name="Delete").click()
    ada.page.click("#confirm-ok")
    for tab in (ada, grace):
        expect(tab.bubble("quoting the doomed one").locator(".quote-text")).to_have_text("deleted")

    expected = ["hello Grace, this is sealed", "a sealed reply", "edited, still sealed", "quoting the doomed one"]
    for tab in (ada, grace):
        assert [t for t in tab.texts() if "deleted" not in t] == expected
        expect(tab.page.locator(".undecryptable")).to_have_count(0)

    # A reload decrypts the history: the same timeline, the quote still saying "deleted".
    grace.page.reload()
    grace.wait_in_room()
    expect(grace.page.locator(".timeline-list .bubble .text").filter(has_text="quoting the doomed one")).to_have_count(1)
    assert [t for t in grace.texts() if "deleted" not in t] == expected
    expect(grace.bubble("quoting the doomed one").locator(".quote-text")).to_have_text("deleted")
    expect(grace.page.locator(".thumb img")).to_have_count(2)
    # The history's edited message: its own ciphertext (image, quote) and its edit's (the text).
    edited = next(m for m in grace.frames("history")[-1]["messages"] if m.get("id") == edit["messageId"])
    assert set(edited["edit"]) == {"ciphertext", "iv"} and edited["editedAt"], edited
    expect(grace.bubble("edited, still sealed").locator(".quote")).to_contain_text("a sealed reply")
    expect(grace.bubble("edited, still sealed").locator(".thumb img")).to_have_count(1)
    expect(grace.bubble("edited, still sealed").locator(".edited")).to_have_count(1)
    expect(grace.bubble("edited, still sealed").locator('.reaction[data-emoji="👍"]')).to_have_text("👍1")
    expect(grace.page.locator(".undecryptable")).to_have_count(0)
    assert grace.page.url.endswith(f"#{code}.{secret}")
    assert_proved(grace, ref)


def test_wrong_or_missing_key_and_a_plain_room(tabs, echo):
    ada = tabs(encrypted=True)
    code, secret = create_encrypted(ada, "Ada")
    ada.send("only for the key holders")

    # A wrong key: refused, its own screen, no retry loop.
    mallory = tabs(encrypted=True)
    other = b64url(bytes(32))
    open_link(mallory, f"{code}.{other}", "Mallory")
    problem = mallory.page.locator("#problem-card")
    expect(problem).to_be_visible()
    expect(problem.locator("#problem-title")).to_have_text("This key does not open this room")
    expect(problem.locator("#problem-title")).to_be_focused()
    assert mallory.frames("error")[-1]["code"] == "BAD_KEY_PROOF"
    mallory.page.wait_for_timeout(2500)
    assert len(sent(mallory, "join")) == 1, "a wrong key is not tried again"
    expect(mallory.page.locator(".bubble")).to_have_count(0)
    # Back to the join screen from the keyboard.
    mallory.page.keyboard.press("Tab")
    expect(mallory.page.locator("#problem-back")).to_be_focused()
    mallory.page.keyboard.press("Enter")
    expect(mallory.page.locator("#join-card")).to_be_visible()

    # A link without its key: refused by the server (KEY_REQUIRED), its own screen.
    linus = tabs(encrypted=True)
    open_link(linus, code, "Linus")
    expect(linus.page.locator("#problem-title")).to_have_text("This link is missing its key")
    assert linus.frames("error")[-1]["code"] == "KEY_REQUIRED"
    linus.page.wait_for_timeout(2500)
    assert len(sent(linus, "join")) == 1, "no reconnect loop"
    assert "challenge" not in [json.loads(f)["type"] for f in linus.sent_frames]
    # ...and a link cut short inside the key: the page knows without asking the server.
    cut = tabs(encrypted=True)
    cut.open(f"/#{code}.{secret[:30]}")
    expect(cut.page.locator("#problem-title")).to_have_text("This link is missing its key")
    assert sent(cut, "join") == []

    # The switch off: a plain room, as Echo Chat's apps make (no challenge, text in the clear).
    plain = tabs(encrypted=True)
    plain.open()
    plain.page.fill("#username", "Plain")
    plain.page.locator("#encrypt-room").click()
    expect(plain.page.locator("#encrypt-room")).not_to_be_checked()
    plain.page.click("#create-button")
    plain.wait_in_room()
    expect(plain.page.locator("#e2e-state")).to_be_hidden()
    plain.send("in the clear")
    assert sent(plain, "chat")[-1]["message"] == "in the clear"
    assert "e2e" not in sent(plain, "join")[-1]
    assert "." not in plain.page.evaluate("location.hash")

    # An encrypted link to that plain room: the server says it is not encrypted.
    wrong_kind = tabs(encrypted=True)
    plain_code = plain.page.locator("#room-name").inner_text()
    open_link(wrong_kind, f"{plain_code}.{secret}", "Grace")
    expect(wrong_kind.page.locator("#join-error")).to_contain_text("not end-to-end encrypted")
    expect(wrong_kind.page.locator("#room-code")).to_have_value(plain_code)


def test_a_killed_worker_and_a_reload_decrypt_everything(tabs, echo):
    ada, grace, code, secret, ada_worker = two_in_an_encrypted_room(tabs, echo)
    ref = ReferenceKeys(code, secret)
    for i in range(3):
        grace.send(f"before {i}")
    ada.expect_text("before 2")
    last_seen = ada.bubble("before 2").get_attribute("data-id")

    os.kill(ada_worker, signal.SIGKILL)
    expect(ada.page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    ada.send("typed while the worker was down", wait=False)
    for i in range(3):
        grace.send(f"while away {i}")
    ada.wait_in_room()
    ada.wait_sent()
    grace.expect_text("typed while the worker was down")
    expected = [f"before {i}" for i in range(3)] + [f"while away {i}" for i in range(3)] + ["typed while the worker was down"]
    for tab in (ada, grace):
        expect(tab.page.locator(".timeline-list .bubble .text")).to_have_count(len(expected))
        assert sorted(tab.texts()) == sorted(expected)
        expect(tab.page.locator(".undecryptable")).to_have_count(0)
    rejoin = sent(ada, "join")[-1]
    assert rejoin["action"] == "rejoin" and rejoin["since"] == last_seen
    assert_proved(ada, ref)
    # The outbox's resend was sealed for the session that sent it.
    mine = next(f for f in grace.frames("chat") if f.get("clientId") == sent(ada, "chat")[-1]["clientId"])
    assert ref.open(mine["ciphertext"], mine["iv"], ref.chat_ad(mine["sessionId"]))[0] == {"text": "typed while the worker was down"}

    ada.page.reload()
    ada.wait_in_room()
    expect(ada.page.locator(".timeline-list .bubble .text")).to_have_count(len(expected))
    assert sorted(ada.texts()) == sorted(expected)
    expect(ada.page.locator(".undecryptable")).to_have_count(0)


# ------------------------------------------------------------------------------------------------
# Nothing plaintext leaves the page

class Redis:
    """Just enough RESP to read every key's bytes exactly (redis-cli would print escapes)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            return None if int(rest) < 0 else self._exact(int(rest))
        if kind == b"*":
            return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")

    def __call__(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def everything(self, matching: str = "") -> bytes:
        """Every key's name and contents (of the keys whose name holds `matching`), whatever its type, as one blob."""
        out = []
        cursor = b"0"
        while True:
            cursor, keys = self("SCAN", cursor, "COUNT", 1000)
            for key in keys:
                if matching.encode() not in key:
                    continue
                kind = self("TYPE", key)
                value = {b"string": lambda: self("GET", key), b"hash": lambda: self("HGETALL", key),
                         b"list": lambda: self("LRANGE", key, 0, -1), b"set": lambda: self("SMEMBERS", key),
                         b"zset": lambda: self("ZRANGE", key, 0, -1, "WITHSCORES"),
                         b"stream": lambda: self("XRANGE", key, "-", "+")}.get(kind, lambda: b"")()
                out.append(key + b"\n" + _flatten(value))
            if cursor == b"0":
                return b"\n".join(out)


def _flatten(value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return b"\n".join(_flatten(v) for v in value)


def spellings(data: bytes) -> list[bytes]:
    """The ways a secret could be written down: raw, hex, base64, base64url."""
    return [data, data.hex().encode(), base64.b64encode(data).rstrip(b"="), base64.urlsafe_b64encode(data).rstrip(b"=")]


class Recorder:
    """Every WebSocket frame (both ways) and every HTTP request (URL, headers, body) of a page."""

    def __init__(self, tab: Tab):
        self.items: list[bytes] = []
        tab.page.on("websocket", self._websocket)
        tab.page.on("request", self._request)

    def _add(self, item):
        self.items.append(item if isinstance(item, bytes) else str(item).encode())

    def _websocket(self, ws):
        self._add(ws.url)
        ws.on("framesent", self._add)
        ws.on("framereceived", self._add)

    def _request(self, request):
        self._add(request.url)
        self._add(json.dumps(request.headers))
        body = request.post_data_buffer
        if body:
            self._add(body)


def test_nothing_plaintext_leaves_the_page(tabs, echo, redis_server):
    canary = f"canary-{secrets.token_hex(8)}"
    ada = tabs(encrypted=True)
    grace = tabs(encrypted=True)
    recorders = [Recorder(ada), Recorder(grace)]
    code, secret = create_encrypted(ada, "Ada")
    join_encrypted(grace, code, secret, "Grace")
    ref = ReferenceKeys(code, secret)

    ada.send(f"the first {canary}")
    grace.expect_text(f"the first {canary}")
    image = png_bytes(rgb=(1, 2, 3))
    ada.page.set_input_files("#file-input", files=[{"name": "c.png", "mimeType": "image/png", "buffer": image}])
    ada.page.fill("#composer-input", f"with an image {canary}")
    ada.page.locator("#composer-input").press("Enter")
    ada.wait_sent()
    grace.expect_text(f"with an image {canary}")
    grace.bubble(f"the first {canary}").locator(".reply-button").click()
    grace.send(f"a reply {canary}")  # its quote's preview holds the canary too
    ada.expect_text(f"a reply {canary}")
    box = ada.page.locator("#composer-input")
    box.press("ArrowUp")
    box.fill(f"edited {canary}")
    box.press("Enter")
    grace.expect_text(f"edited {canary}")
    grace.bubble(f"edited {canary}").locator(".more-button").click()
    grace.page.locator("#popup-menu").get_by_role("menuitem", name="Add reaction…").click()
    grace.page.fill("#react-search", "parrot")
    grace.page.locator("#react-panel .emoji-grid .emoji-option", has_text="🦜").first.click()
    expect(ada.bubble(f"edited {canary}").locator('.reaction[data-emoji="🦜"]')).to_have_text("🦜1")
    grace.page.reload()
    grace.wait_in_room()
    grace.expect_text(f"edited {canary}")

    forbidden = {"canary": [canary.encode()], "image": spellings(image), "🦜": ["🦜".encode(), json.dumps("🦜").encode()],
                 "secret": spellings(unb64url(secret))}
    forbidden.update({f"{name} key": spellings(key) for name, key in ref.all_secrets().items()})
    seen = b"\n".join(item for r in recorders for item in r.items)
    assert len(seen) > 2000 and b'"ciphertext"' in seen, "the recorders saw the session"
    assert secret.encode() not in seen, "the key never leaves the page, in no URL either"
    for what, needles in forbidden.items():
        for needle in needles:
            assert needle not in seen, f"{what} left the page"

    redis = Redis(redis_server.port)
    stored = redis.everything()
    assert code.encode() in stored, "the scan reads the room's keys"
    assert f"v:{ref.verifier}".encode() in stored, "the room's info holds its verifier"
    # The emoji alone is looked for in this room's keys only: other tests' plain rooms hold 🦜.
    own = redis.everything(matching=code)
    assert b"ciphertext" in own
    for what, needles in forbidden.items():
        for needle in needles:
            assert needle not in (own if what == "🦜" else stored), f"{what} is in Redis"


# ------------------------------------------------------------------------------------------------
# Tampering: a raw client with the key sends what no page would


def raw_member(echo, room_id: str, secret: str, name: str, action="join"):
    """A protocol client that holds the room's key: challenge, proof, join (edit and react granted)."""
    ref = ReferenceKeys(room_id, secret)
    client = Client(echo.ws_url)
    client.send("challenge")
    nonce = client.recv_until(lambda f: f.get("type") == "challenge")["nonce"]
    client.send("join", roomId=room_id, username=name, action=action, features=["edit", "react"], authorKey=author_key(),
                e2e={"verifier": ref.verifier, "proof": ref.prove(nonce)})
    session = client.recv_until(lambda f: f.get("type") in ("session", "error"))
    assert session["type"] == "session" and session.get("encrypted") is True, session
    client.session_id = session["sessionId"]
    client.recv_until(lambda f: f.get("type") == "history")
    return client, ref


def sealed_chat(ref: ReferenceKeys, session_id: str, text: str) -> dict:
    ciphertext, iv = ref.seal({"text": text}, b"", ref.chat_ad(session_id), os.urandom(12))
    return {"ciphertext": ciphertext, "iv": iv}


def flip_bit(ciphertext: str, at: int) -> str:
    data = bytearray(unb64url(ciphertext))
    data[at] ^= 0x01
    return b64url(bytes(data))


def test_tampered_and_replayed_ciphertexts_show_as_undecryptable(tabs, echo):
    ada = tabs(encrypted=True)
    grace = tabs(encrypted=True)
    code, secret = create_encrypted(ada, "Ada")
    join_encrypted(grace, code, secret, "Grace")
    mallory, ref = raw_member(echo, code, secret, "Mallory")

    def chat_id() -> str:
        """The id of Mallory's chat just sent (the server echoes it to the sender too)."""
        return mallory.recv_until(lambda f: f.get("type") == "chat" and f.get("sessionId") == mallory.session_id)["id"]

    def only_undecryptable(tab: Tab, message_id: str):
        bubble = tab.page.locator(f"#m-{message_id}")
        expect(bubble.locator(".text")).to_have_text(UNDECRYPTABLE)
        expect(bubble.locator(".text")).to_have_count(1)
        expect(bubble.locator("img, .quote, .reaction, .edited, .bubble-tools")).to_have_count(0)

    # A control: what Mallory seals properly shows, so the refusals below are the bit flips'.
    mallory.send("chat", roomId=code, **sealed_chat(ref, mallory.session_id, "a proper one from the raw client"))
    proper = chat_id()
    for tab in (ada, grace):
        tab.expect_text("a proper one from the raw client")

    # One flipped bit, in the ciphertext, the tag, or the IV.
    sealed = sealed_chat(ref, mallory.session_id, "tampered in transit")
    flipped = [dict(sealed, ciphertext=flip_bit(sealed["ciphertext"], 5)),
               dict(sealed, ciphertext=flip_bit(sealed["ciphertext"], len(unb64url(sealed["ciphertext"])) - 1)),
               dict(sealed, iv=flip_bit(sealed["iv"], 0))]
    ids = []
    for payload in flipped:
        mallory.send("chat", roomId=code, **payload)
        ids.append(chat_id())
    # Sealed as another session (Ada's): the receivers check the AD against the frame's sender.
    ada_session = ada.frames("session")[-1]["sessionId"]
    mallory.send("chat", roomId=code, **sealed_chat(ref, ada_session, "pretending to be Ada"))
    ids.append(chat_id())

    # A valid ciphertext of room A replayed into room B (here: into Ada's room, from another one).
    other_code = "replay-source-" + code[:8]
    source, source_ref = raw_member(echo, other_code, b64url(bytes(range(32))), "Mallory", action="create")
    source.send("chat", roomId=other_code, **sealed_chat(source_ref, source.session_id, "valid only in room A"))
    in_a = source.recv_until(lambda f: f.get("type") == "chat" and f.get("sessionId") == source.session_id)
    assert source_ref.open(in_a["ciphertext"], in_a["iv"], source_ref.chat_ad(source.session_id))[0] == {"text": "valid only in room A"}
    mallory.send("chat", roomId=code, ciphertext=in_a["ciphertext"], iv=in_a["iv"])
    ids.append(chat_id())
    source.close()

    for tab in (ada, grace):
        for message_id in ids:
            only_undecryptable(tab, message_id)
        tab.expect_text("tampered in transit", count=0)
        tab.expect_text("pretending to be Ada", count=0)
        tab.expect_text("valid only in room A", count=0)

    # A tampered edit of Mallory's proper message: what it says now is unknown.
    edit_ct, edit_iv = ref.seal({"text": "an edit with a flipped bit"}, b"", ref.edit_ad(mallory.session_id, proper), bytes(12))
    mallory.send("edit", messageId=proper, ciphertext=flip_bit(edit_ct, 3), iv=edit_iv)
    for tab in (ada, grace):
        only_undecryptable(tab, proper)
    # A reaction token with a flipped bit opens to nothing: no chip.
    ada.send("react to me")
    target = next(f["id"] for f in ada.frames("chat") if f.get("clientId") == sent(ada, "chat")[-1]["clientId"])
    mallory.send("react", messageId=target, emoji=flip_bit(ref.reaction_token(target, "👍"), 20))
    mallory.send("react", messageId=target, emoji=ref.reaction_token(target, "🎉"))  # a control
    for tab in (ada, grace):
        expect(tab.bubble("react to me").locator('.reaction[data-emoji="🎉"]')).to_have_text("🎉1")
        expect(tab.bubble("react to me").locator(".reaction")).to_have_count(1)

    # A reload opens the stored history the same way.
    grace.page.reload()
    grace.wait_in_room()
    for message_id in [*ids, proper]:
        only_undecryptable(grace, message_id)
    expect(grace.bubble("react to me").locator(".reaction")).to_have_count(1)
    mallory.close()


# ------------------------------------------------------------------------------------------------
# An insecure context (plain http from an address that is not loopback)

def test_insecure_context_offers_plain_rooms_only(echo, tabs, browser):
    """Chromium resolves echo-lan.test to 127.0.0.1, but the name is not loopback: http on it is
    not a secure context, so WebCrypto's `crypto.subtle` is missing as on a LAN address."""
    lan_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--host-resolver-rules=MAP echo-lan.test 127.0.0.1"])
    try:
        tab = Tab(lan_browser, f"http://echo-lan.test:{echo.port}", encrypted=True)
        tab.open()
        assert tab.page.evaluate("[isSecureContext, typeof crypto.subtle]") == [False, "undefined"]
        toggle = tab.page.locator("#encrypt-room")
        expect(toggle).to_be_disabled()
        expect(toggle).not_to_be_checked()
        expect(tab.page.locator("#encrypt-hint")).to_contain_text("Encrypted rooms need https")
        assert serious_violations(tab) == []
        tab.screenshot("insecure-context-join")

        # A plain room still works, with a page on a secure origin.
        tab.page.fill("#username", "Lan")
        tab.page.click("#create-button")
        tab.wait_in_room()
        expect(tab.page.locator("#e2e-state")).to_be_hidden()
        code = tab.page.locator("#room-name").inner_text()
        grace = tabs()
        grace.join_by_link(code, "Grace")
        tab.send("from an insecure page")
        grace.expect_text("from an insecure page")
        tab.page.click("#leave-button")

        # An encrypted room's link says it needs https, and asks nothing of the server.
        tab.open(f"/#{code}.{b64url(bytes(32))}")
        expect(tab.page.locator("#problem-title")).to_have_text("This room needs https")
        expect(tab.page.locator("#problem-body")).to_contain_text("https://")
        expect(tab.page.locator("#problem-title")).to_be_focused()
        assert serious_violations(tab) == []
        tab.screenshot("insecure-context-encrypted-link")
        assert [json.loads(f)["type"] for f in tab.sent_frames].count("join") == 1  # only the plain room's
        tab.assert_clean()
        tab.close()
    finally:
        lan_browser.close()


# A browser whose WebCrypto has no Ed25519 (before Chrome 137, Firefox 129, Safari 17).
NO_ED25519 = """(() => {
  const importKey = SubtleCrypto.prototype.importKey;
  SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
    const name = typeof algorithm === 'string' ? algorithm : algorithm?.name;
    if (name === 'Ed25519') return Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'));
    return importKey.call(this, format, data, algorithm, ...rest);
  };
})();"""


def test_a_browser_without_ed25519_offers_plain_rooms_only(tabs, echo):
    ada = tabs(encrypted=True)
    code, secret = create_encrypted(ada, "Ada")
    old = tabs(encrypted=True)
    old.context.add_init_script(NO_ED25519)
    old.open()
    expect(old.page.locator("#encrypt-room")).to_be_disabled()
    expect(old.page.locator("#encrypt-room")).not_to_be_checked()
    expect(old.page.locator("#encrypt-hint")).to_contain_text("cannot make encrypted rooms")
    open_link(old, f"{code}.{secret}", "Old")
    expect(old.page.locator("#problem-title")).to_have_text("This browser cannot open encrypted rooms")
    assert sent(old, "join") == [] and sent(old, "challenge") == []


# ------------------------------------------------------------------------------------------------
# The new screens: keyboard reachable, labelled, axe-clean in both themes at both widths

WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_encryption_screens_are_accessible(tabs, echo, theme, width):
    viewport = WIDE if width == "desktop" else NARROW
    problems: list[str] = []

    def audit(tab: Tab, what: str):
        name = f"axe-e2e-{what}-{theme}-{width}"
        problems.extend(f"{name}: {p}" for p in serious_violations(tab))
        tab.screenshot(name)

    ada = tabs(viewport=viewport, color_scheme=theme, encrypted=True)
    ada.open()
    # The switch, from the keyboard: name field, then the switch (Space toggles it), labelled.
    ada.page.locator("#username").focus()
    ada.page.keyboard.press("Tab")
    toggle = ada.page.locator("#encrypt-room")
    expect(toggle).to_be_focused()
    expect(toggle).to_have_accessible_name("End-to-end encrypted")
    expect(toggle).to_have_attribute("role", "switch")
    audit(ada, "join-switch-on")
    ada.page.keyboard.press("Space")
    expect(toggle).not_to_be_checked()
    audit(ada, "join-switch-off")
    ada.page.keyboard.press("Space")
    expect(toggle).to_be_checked()

    ada.page.fill("#username", "Ada")
    ada.page.click("#create-button")
    ada.wait_in_room()
    code, secret = room_link(ada)
    ada.send("sealed and shown")
    mallory, ref = raw_member(echo, code, secret, "Mallory")
    sealed = sealed_chat(ref, mallory.session_id, "x")
    mallory.send("chat", roomId=code, **dict(sealed, ciphertext=flip_bit(sealed["ciphertext"], 0)))
    expect(ada.page.locator(".undecryptable")).to_have_count(1)
    mallory.close()
    audit(ada, "room-encrypted")

    for fragment, title in [(code, "This link is missing its key"), (f"{code}.{b64url(bytes(32))}", "This key does not open this room")]:
        other = tabs(viewport=viewport, color_scheme=theme, encrypted=True)
        open_link(other, fragment, "Linus")
        expect(other.page.locator("#problem-title")).to_have_text(title)
        expect(other.page.locator("#problem-title")).to_be_focused()
        audit(other, "problem-" + ("missing" if "." not in fragment else "wrong"))
        other.page.keyboard.press("Tab")
        expect(other.page.locator("#problem-back")).to_be_focused()
    assert not problems, "\n".join(problems)
