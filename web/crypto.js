// An end-to-end encrypted room's cryptography (docs/protocol.md, End-to-end encrypted rooms), with
// WebCrypto only: the link's secret, the keys HKDF derives from it, the Ed25519 proof of key the
// server checks, and the sealed forms of what people write (a chat's or an edit's envelope, a
// reaction's token). The server sees only what this module outputs. No DOM, no socket.

const VERSION = 'echo-e2e-v1';
const SECRET_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410): how WebCrypto imports one. */
const ED25519_PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);
export const IMAGE_TYPES = ['png', 'jpeg', 'gif', 'webp'];
/** A reaction's emoji is at most 16 UTF-8 bytes, as the server requires in a plain room (its token: at most 59 characters). */
const REACTION_EMOJI_BYTES = 16;

const encoder = new TextEncoder();
// `fatal`: bytes that are not UTF-8 are a bad envelope, not replacement characters.
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Thrown for anything that does not open: wrong key, wrong room or kind, flipped bits, bad envelope. */
export class Undecryptable extends Error {}

/**
 * WebCrypto exists only in a secure context (https, or http on localhost): elsewhere the page
 * offers plain rooms only.
 */
export function encryptionAvailable() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto?.subtle);
}

/**
 * Whether this browser can open encrypted rooms: 'ok', 'insecure' (no WebCrypto: plain http off
 * loopback) or 'unsupported' (WebCrypto without Ed25519: before Chrome 137, Firefox 129, Safari 17).
 */
export async function encryptionSupport() {
  if (!encryptionAvailable()) return 'insecure';
  try {
    await ed25519FromSeed(new Uint8Array(32));
    return 'ok';
  } catch {
    return 'unsupported';
  }
}

// ------------------------------------------------------------------------------------------------
// base64url (RFC 4648 §5, no padding)

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function toBase64url(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (typeof view.toBase64 === 'function') return view.toBase64({ alphabet: 'base64url', omitPadding: true });
  let binary = '';
  // In slices: String.fromCharCode(...) of megabytes at once overflows the argument stack.
  for (let i = 0; i < view.length; i += 0x8000) binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The bytes of base64url text; throws Undecryptable for anything else (padding included). */
export function fromBase64url(text) {
  if (typeof text !== 'string' || !BASE64URL.test(text) || text.length % 4 === 1) throw new Undecryptable('not base64url');
  if (typeof Uint8Array.fromBase64 === 'function') {
    try {
      return Uint8Array.fromBase64(text, { alphabet: 'base64url' });
    } catch {
      throw new Undecryptable('not base64url');
    }
  }
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A secret as links carry it: 43 characters, exactly 32 bytes, canonical (re-encodes to itself). */
export function isSecret(text) {
  if (typeof text !== 'string' || text.length !== 43) return false;
  try {
    const bytes = fromBase64url(text);
    return bytes.length === SECRET_BYTES && toBase64url(bytes) === text;
  } catch {
    return false;
  }
}

/** A new room's secret: 32 random bytes. */
export function newSecret() {
  return toBase64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/**
 * A link's fragment (without '#'): `<roomId>` is a plain room, `<roomId>.<secret>` an encrypted
 * one. Returns { roomId, secret } (secret null for a plain link, '' when the part after the dot is
 * not a secret: a link cut short), or null when there is no room id at all.
 */
export function parseFragment(fragment, roomPattern) {
  const dot = fragment.indexOf('.');
  const roomId = dot < 0 ? fragment : fragment.slice(0, dot);
  if (!roomPattern.test(roomId)) return null;
  if (dot < 0) return { roomId, secret: null };
  const secret = fragment.slice(dot + 1);
  return { roomId, secret: isSecret(secret) ? secret : '' };
}

// ------------------------------------------------------------------------------------------------
// The envelope: [4-byte big-endian n][n bytes UTF-8 JSON header][image bytes]

const MAGIC = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  jpeg: [0xff, 0xd8, 0xff],
  gif: [0x47, 0x49, 0x46, 0x38],
};

/** The header's type matches the bytes' magic number (the server can no longer check it). */
export function imageMatchesType(type, bytes) {
  if (type === 'webp') {
    return bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF'
      && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP';
  }
  const magic = MAGIC[type];
  return Boolean(magic) && bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

export function packEnvelope(header, image = null) {
  const json = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + (image?.length ?? 0));
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  if (image) out.set(image, 4 + json.length);
  return out;
}

export function unpackEnvelope(bytes) {
  if (bytes.length < 4) throw new Undecryptable('short envelope');
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + length > bytes.length) throw new Undecryptable('header past the end');
  let header;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + length)));
  } catch {
    throw new Undecryptable('header is not UTF-8 JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Undecryptable('header is not an object');
  return { header, image: bytes.subarray(4 + length) };
}

function isReplyTo(value) {
  return value && typeof value === 'object' && typeof value.messageId === 'string' && typeof value.sender === 'string'
    && typeof value.preview === 'string' && typeof value.isImage === 'boolean'
    && (value.sessionId === undefined || typeof value.sessionId === 'string');
}

// ------------------------------------------------------------------------------------------------
// The primitives (each checked against its published test vectors in the browser tests)

/** HKDF-SHA-256 (RFC 5869): `length` bytes of output keying material. */
export async function hkdf(ikm, salt, info, length = 32) {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info: typeof info === 'string' ? encoder.encode(info) : info }, key, length * 8);
  return new Uint8Array(bits);
}

/** A raw 256-bit key as a non-extractable AES-GCM key. */
export function aesKey(bytes) {
  return crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** AES-GCM with a 128-bit tag: ciphertext ‖ tag. */
export async function aesGcmSeal(key, iv, plaintext, additionalData) {
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData, tagLength: 128 }, key, plaintext));
}

/** The plaintext, or Undecryptable when the tag does not match (any bit of key, IV, AD or ciphertext). */
export async function aesGcmOpen(key, iv, sealed, additionalData) {
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData, tagLength: 128 }, key, sealed));
  } catch {
    throw new Undecryptable('does not open');
  }
}

/**
 * An Ed25519 key pair from a 32-byte seed (RFC 8032's "secret key"): { privateKey (a
 * non-extractable CryptoKey), publicKey (base64url, 43 characters) }.
 */
export async function ed25519FromSeed(seed) {
  const subtle = crypto.subtle;
  const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
  pkcs8.set(ED25519_PKCS8_PREFIX);
  pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
  // Extractable only for this moment: the JWK export is how WebCrypto gives the public key.
  const jwk = await subtle.exportKey('jwk', await subtle.importKey('pkcs8', pkcs8, 'Ed25519', true, ['sign']));
  pkcs8.fill(0);
  const privateKey = await subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, 'Ed25519', false, ['sign']);
  return { privateKey, publicKey: jwk.x };
}

export async function ed25519Sign(privateKey, message) {
  return new Uint8Array(await crypto.subtle.sign('Ed25519', privateKey, message));
}

// ------------------------------------------------------------------------------------------------
// The room's keys

function additionalData(roomId, ...parts) {
  return encoder.encode([VERSION, roomId, ...parts].join('\n'));
}

/**
 * One encrypted room's keys, derived from its link's secret. Every key is a non-extractable
 * CryptoKey: nothing the page runs later can read them back.
 */
export class RoomKeys {
  #message;
  #reaction;
  #reactionIv;
  #auth;

  constructor(roomId, { message, reaction, reactionIv, auth, verifier }) {
    this.roomId = roomId;
    /** The Ed25519 public key the server checks proofs with: base64url, 43 characters. */
    this.verifier = verifier;
    this.#message = message;
    this.#reaction = reaction;
    this.#reactionIv = reactionIv;
    this.#auth = auth;
  }

  static async derive(roomId, secret) {
    if (!isSecret(secret)) throw new Undecryptable('not a room secret');
    const ikm = fromBase64url(secret);
    const salt = encoder.encode(`${VERSION}:${roomId}`);
    const [message, reaction, reactionIv, seed] = await Promise.all(
      ['message', 'reaction', 'reaction-iv', 'auth'].map((info) => hkdf(ikm, salt, info)));
    const auth = await ed25519FromSeed(seed);
    const keys = new RoomKeys(roomId, {
      message: await aesKey(message),
      reaction: await aesKey(reaction),
      reactionIv: await crypto.subtle.importKey('raw', reactionIv, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
      auth: auth.privateKey,
      verifier: auth.publicKey,
    });
    for (const bytes of [ikm, message, reaction, reactionIv, seed]) bytes.fill(0);
    return keys;
  }

  /** The join's proof: an Ed25519 signature of the server's challenge, bound to this room. */
  async prove(nonce) {
    return toBase64url(await ed25519Sign(this.#auth, encoder.encode(`${VERSION} join\n${this.roomId}\n${nonce}`)));
  }

  async #seal(plaintext, ad) {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    return { ciphertext: toBase64url(await aesGcmSeal(this.#message, iv, plaintext, ad)), iv: toBase64url(iv) };
  }

  async #open({ ciphertext, iv }, ad) {
    const ivBytes = fromBase64url(iv);
    const sealed = fromBase64url(ciphertext);
    if (ivBytes.length !== IV_BYTES || sealed.length <= TAG_BYTES) throw new Undecryptable('bad sizes');
    return aesGcmOpen(this.#message, ivBytes, sealed, ad);
  }

  /**
   * A chat message, sealed for the session that sends it (a receiver checks that the frame's
   * `sessionId` is the one it was sealed for). `image` is { type: 'png'|…, bytes } or null.
   */
  sealChat(sessionId, { text = '', image = null, replyTo = null }) {
    const header = { text };
    if (image) header.image = { type: image.type };
    if (replyTo) header.replyTo = replyTo;
    return this.#seal(packEnvelope(header, image?.bytes), additionalData(this.roomId, 'chat', sessionId));
  }

  /**
   * Opens a chat frame's { ciphertext, iv } sent by `sessionId`. Resolves to
   * { text, image: { type, bytes } | null, replyTo | null }; rejects with Undecryptable.
   * @param limits { messageLength, imageBytes }: what the server would have refused, refused here.
   */
  async openChat(sessionId, sealed, limits) {
    const { header, image } = unpackEnvelope(await this.#open(sealed, additionalData(this.roomId, 'chat', sessionId)));
    const text = header.text ?? '';
    if (typeof text !== 'string' || text.length > limits.messageLength) throw new Undecryptable('bad text');
    if (header.replyTo != null && !isReplyTo(header.replyTo)) throw new Undecryptable('bad reply');
    let picture = null;
    if (header.image != null) {
      const type = header.image?.type;
      if (!IMAGE_TYPES.includes(type) || image.length > limits.imageBytes || !imageMatchesType(type, image)) {
        throw new Undecryptable('bad image');
      }
      picture = { type, bytes: image };
    } else if (image.length) {
      throw new Undecryptable('image bytes without a type');
    }
    if (!text.trim() && !picture) throw new Undecryptable('empty');
    return { text, image: picture, replyTo: header.replyTo ?? null };
  }

  /** An edit of `messageId`, which `sessionId` wrote: only that message can take it. */
  sealEdit(sessionId, messageId, text) {
    return this.#seal(packEnvelope({ text }), additionalData(this.roomId, 'edit', sessionId, messageId));
  }

  async openEdit(sessionId, messageId, sealed, limits) {
    const { header, image } = unpackEnvelope(await this.#open(sealed, additionalData(this.roomId, 'edit', sessionId, messageId)));
    const { text } = header;
    if (typeof text !== 'string' || !text.trim() || text.length > limits.messageLength || image.length) throw new Undecryptable('bad edit');
    return text;
  }

  async #reactionIvFor(messageId, emoji) {
    const mac = await crypto.subtle.sign('HMAC', this.#reactionIv, encoder.encode(`${messageId}\n${emoji}`));
    return new Uint8Array(mac, 0, IV_BYTES);
  }

  /**
   * A reaction's emoji as the server stores and toggles it: the same (room, message, emoji) always
   * gives the same token (a synthetic IV), so the server's on/off works without reading it.
   */
  async sealReaction(messageId, emoji) {
    const plain = encoder.encode(emoji);
    if (!plain.length || plain.length > REACTION_EMOJI_BYTES) throw new RangeError('not a reaction emoji');
    const iv = await this.#reactionIvFor(messageId, emoji);
    const sealed = await aesGcmSeal(this.#reaction, iv, plain, additionalData(this.roomId, 'react', messageId));
    const token = new Uint8Array(IV_BYTES + sealed.length);
    token.set(iv);
    token.set(sealed, IV_BYTES);
    return toBase64url(token);
  }

  /** The emoji of a token; a token that opens but is not the canonical one for it is refused too. */
  async openReaction(messageId, token) {
    const bytes = fromBase64url(token);
    if (bytes.length <= IV_BYTES + TAG_BYTES || bytes.length > IV_BYTES + TAG_BYTES + REACTION_EMOJI_BYTES) throw new Undecryptable('not a token');
    const iv = bytes.subarray(0, IV_BYTES);
    const plain = await aesGcmOpen(this.#reaction, iv, bytes.subarray(IV_BYTES), additionalData(this.roomId, 'react', messageId));
    let emoji;
    try {
      emoji = decoder.decode(plain);
    } catch {
      throw new Undecryptable('not UTF-8');
    }
    const expected = await this.#reactionIvFor(messageId, emoji);
    if (!expected.every((b, i) => b === iv[i])) throw new Undecryptable('not the canonical token');
    return emoji;
  }
}
