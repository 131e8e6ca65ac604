// Random identifiers from crypto.getRandomValues (crypto.randomUUID needs a secure context, which
// a plain-http LAN deployment is not).

// nanoid's URL-safe alphabet: 64 symbols, so `byte & 63` maps bytes to symbols without bias.
const ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';

/** 21 symbols × 6 bits = 126 bits of randomness: a room code nobody can guess. */
export function newRoomCode(length = 21) {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let code = '';
  for (const byte of bytes) code += ALPHABET[byte & 63];
  return code;
}

/** Identifies one send across retries, so the server stores it once. */
export function newClientId() {
  return 'c_' + newRoomCode(22);
}

export const ROOM_CODE_PATTERN = /^[A-Za-z0-9_-]{1,50}$/;
export const USERNAME_PATTERN = /^[\p{L}\p{N} _-]{1,30}$/u;

/**
 * The key that proves authorship of one's messages (edit, delete): 32 random bytes, base64url
 * without padding (43 characters), as the server requires.
 */
export function newAuthorKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const AUTHOR_KEY_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
