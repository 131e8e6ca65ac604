// What an end-to-end encrypted room changes in the page's traffic (crypto.js does the cryptography):
// every frame from the server is opened into the shape a plain room's frame has, so state.js and
// render.js work unchanged, and every chat, edit and reaction the page sends is sealed first. A
// message that does not open becomes one marked `undecryptable` (render.js shows exactly "message
// could not be decrypted" and nothing else).

import { RoomKeys, fromBase64url, toBase64url } from './crypto.js';

const DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]*={0,2})$/;

/** A composer's data URL as the envelope carries an image: its type and raw bytes. */
export function imageFromDataURL(dataURL) {
  const match = DATA_URL.exec(dataURL ?? '');
  if (!match) return null;
  const base64url = match[2].replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return { type: match[1], bytes: fromBase64url(base64url) };
}

/** Decrypted image bytes as the timeline shows images (render.js accepts only such data URLs). */
export function dataURLFromImage({ type, bytes }) {
  const base64 = toBase64url(bytes).replace(/-/g, '+').replace(/_/g, '/');
  return `data:image/${type};base64,${base64}${'='.repeat((4 - (base64.length % 4)) % 4)}`;
}

/** A message that did not open: nothing of it is shown (nor its reactions, whose tokens name its id). */
function undecryptable({ reactions, ...frame }) {
  return { ...frame, text: '', image: null, replyTo: null, undecryptable: true };
}

export class RoomCrypto {
  /**
   * @param keys the room's RoomKeys
   * @param limits returns the server's limits now (a decrypted message is held to them)
   * @param sessionOf returns the sessionId of a message the page knows, by id (an edit is sealed
   *                  for its message's author session)
   */
  constructor(keys, limits, sessionOf) {
    this.keys = keys;
    this.limits = limits;
    this.sessionOf = sessionOf;
  }

  static async forRoom(roomId, secret, limits, sessionOf) {
    return new RoomCrypto(await RoomKeys.derive(roomId, secret), limits, sessionOf);
  }

  get roomId() {
    return this.keys.roomId;
  }

  /** A frame from the server as the page handles a plain room's: opened where it is sealed. */
  async openFrame(frame) {
    switch (frame.type) {
      case 'chat': return this.#openChat(frame);
      case 'edit': return this.#openEdit(frame, this.sessionOf);
      case 'react': return this.#openReact(frame);
      case 'history': return this.#openHistory(frame);
      default: return frame;
    }
  }

  /** True for the frames openFrame changes (the others need not wait for it). */
  static needsOpening(frame) {
    return ['chat', 'edit', 'react', 'history'].includes(frame?.type);
  }

  async #openChat(frame) {
    if (typeof frame.ciphertext !== 'string') {
      // A tombstone carries nothing sealed; anything else in an encrypted room is not from a member.
      return frame.deleted === true ? frame : undecryptable(frame);
    }
    const { ciphertext, iv, edit, ...rest } = frame;
    const id = frame.id ?? frame.messageId;
    const author = String(frame.sessionId ?? '');
    let opened;
    try {
      opened = await this.keys.openChat(author, { ciphertext, iv }, this.limits());
      // A history's edited message carries its newest edit beside its own ciphertext (which
      // keeps its image and reply): the edit's text is the one shown.
      if (edit != null) opened.text = await this.keys.openEdit(author, String(id), edit, this.limits());
    } catch {
      return undecryptable(rest);
    }
    const reactions = await this.#openReactions(id, frame.reactions);
    return {
      ...rest,
      text: opened.text,
      image: opened.image ? dataURLFromImage(opened.image) : null,
      replyTo: opened.replyTo,
      ...(reactions ? { reactions } : {}),
    };
  }

  async #openEdit(entry, sessionOf) {
    const { ciphertext, iv, ...rest } = entry;
    const author = sessionOf(entry.messageId);
    // An edit of a message this page never had changes nothing it shows.
    if (author == null) return rest;
    try {
      return { ...rest, text: await this.keys.openEdit(author, String(entry.messageId), { ciphertext, iv }, this.limits()) };
    } catch {
      return { ...rest, undecryptable: true };
    }
  }

  async #openReact(entry) {
    try {
      return { ...entry, emoji: await this.keys.openReaction(String(entry.messageId), entry.emoji) };
    } catch {
      // Its position still counts (state.receiveEntry); an empty emoji applies to nothing.
      return { ...entry, emoji: '' };
    }
  }

  /** A history's `reactions` ({ token: [names] }) by emoji; tokens that do not open are left out. */
  async #openReactions(messageId, folded) {
    if (!folded || typeof folded !== 'object') return folded;
    const opened = {};
    for (const [token, names] of Object.entries(folded)) {
      try {
        opened[await this.keys.openReaction(String(messageId), token)] = names;
      } catch {
        // A token nobody with the key made: not a reaction anyone can see.
      }
    }
    return opened;
  }

  async #openHistory(frame) {
    if (!Array.isArray(frame.messages)) return frame;
    // An edit listed after its message in the same history is sealed for that message's author.
    const authors = new Map();
    const sessionOf = (id) => authors.get(id) ?? this.sessionOf(id);
    const messages = [];
    for (const message of frame.messages) {
      if (!message || typeof message !== 'object' || message.sender === 'System') {
        messages.push(message);
      } else if (message.type === 'edit') {
        messages.push(await this.#openEdit(message, sessionOf));
      } else if (message.type === 'react') {
        messages.push(await this.#openReact(message));
      } else if (message.type === 'delete') {
        messages.push(message);
      } else {
        const id = message.id ?? message.messageId;
        if (id != null && message.sessionId != null) authors.set(id, String(message.sessionId));
        messages.push(await this.#openChat(message));
      }
    }
    return { ...frame, messages };
  }

  /** A chat's sealed payload fields, for the session sending it. */
  async sealChat(sessionId, { text, image, replyTo }) {
    const picture = image ? imageFromDataURL(image) : null;
    return this.keys.sealChat(sessionId, { text: text ?? '', image: picture, replyTo: replyTo ?? null });
  }

  /** An edit's sealed payload fields; `message` is the one edited (its author session is in the AD). */
  sealEdit(message, text) {
    return this.keys.sealEdit(String(message.sessionId ?? ''), String(message.id ?? message.messageId), text);
  }

  sealReaction(messageId, emoji) {
    return this.keys.sealReaction(String(messageId), emoji);
  }
}
