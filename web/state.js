// Everything the page knows, in one object: the server's limits, the room it is in (who we are,
// which messages it has shown, the last stream position it saw, the messages still waiting to be
// confirmed), how far the join on this connection got, and the unread count. No DOM, no socket.
// Only the room part is saved, per tab, so a refresh goes straight back in.

import { tabStore } from './storage.js';

const KEY = 'echo.room';

/**
 * The server's input limits until its `session` frame says otherwise: the defaults of
 * ECHO_MAX_MESSAGE_LENGTH (UTF-16 units, as the server counts), ECHO_MAX_IMAGE_BYTES (decoded),
 * ECHO_RATE_LIMIT (per minute, 0 = off) and ECHO_RATE_BURST. The one copy of them in the client.
 */
export const DEFAULT_LIMITS = Object.freeze({ messageLength: 2000, imageBytes: 3 * 1024 * 1024, ratePerMinute: 60, rateBurst: 20 });

/**
 * The limits a `session` frame announces, each checked on its own: a missing or malformed value
 * (an older server sends no `limits` at all) keeps the one already known.
 */
export function limitsFrom(announced, known = DEFAULT_LIMITS) {
  if (!announced || typeof announced !== 'object') return known;
  const pick = (name, min) => {
    const value = announced[name];
    return Number.isSafeInteger(value) && value >= min ? value : known[name];
  };
  return Object.freeze({
    messageLength: pick('messageLength', 1),
    imageBytes: pick('imageBytes', 0),
    ratePerMinute: pick('ratePerMinute', 0),
    rateBurst: pick('rateBurst', 0),
  });
}

/** Orders stream IDs ("<ms>-<seq>") numerically; string order breaks when the lengths differ. */
export function compareStreamIds(a, b) {
  const [aMs, aSeq = '0'] = String(a).split('-');
  const [bMs, bSeq = '0'] = String(b).split('-');
  const ms = BigInt(aMs) - BigInt(bMs);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(aSeq) - BigInt(bSeq);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

export function isStreamId(value) {
  return typeof value === 'string' && /^\d+-\d+$/.test(value);
}

export class PageState {
  /** What the server accepts; see DEFAULT_LIMITS. Kept when leaving a room: it is the server's. */
  limits = DEFAULT_LIMITS;
  /**
   * The join on the current connection (session.js owns it): `phase` is 'idle' | 'joining' (join
   * sent, no session yet) | 'joined'; `action` is what the next join asks for ('create' | 'join' |
   * 'rejoin'); `done` says a history has arrived in this room, so later joins resume from `lastId`.
   */
  join = { phase: 'idle', action: null, done: false };
  /** Messages that arrived while the tab was hidden, for the title. */
  unread = 0;

  roomId = null;
  username = null;
  /** The current connection's session; null until the server's `session` frame. */
  sessionId = null;
  /** Every session this tab has had in this room: our own messages stay "ours" across reconnects. */
  sessionIds = new Set();
  lastId = null;
  /** clientId → { clientId, text, image, replyTo, createdAt, sentAt, status } */
  pending = new Map();
  /** id → message, for reply previews and de-duplication. */
  messages = new Map();

  /** Restores the room of this tab after a refresh; false when there is none. */
  restore() {
    const saved = tabStore.get(KEY);
    if (!saved?.roomId || !saved?.username) return false;
    this.roomId = saved.roomId;
    this.username = saved.username;
    this.sessionIds = new Set(saved.sessionIds ?? []);
    this.lastId = isStreamId(saved.lastId) ? saved.lastId : null;
    this.pending = new Map((saved.pending ?? []).map((p) => [p.clientId, { ...p, sentAt: 0, status: 'waiting' }]));
    this.join = { phase: 'idle', action: 'rejoin', done: false };
    return true;
  }

  /** @param action the first join's action: 'create' or 'join'. */
  enter(roomId, username, action) {
    const sameRoom = roomId === this.roomId;
    this.join = { phase: 'idle', action, done: false };
    this.roomId = roomId;
    this.username = username;
    this.sessionId = null;
    if (!sameRoom) {
      this.sessionIds = new Set();
      this.lastId = null;
      this.pending = new Map();
      this.messages = new Map();
    }
    this.save();
  }

  leave() {
    this.join = { phase: 'idle', action: null, done: false };
    this.unread = 0;
    this.roomId = null;
    this.username = null;
    this.sessionId = null;
    this.sessionIds = new Set();
    this.lastId = null;
    this.pending = new Map();
    this.messages = new Map();
    tabStore.remove(KEY);
  }

  joined(sessionId) {
    this.sessionId = sessionId;
    if (sessionId) this.sessionIds.add(sessionId);
    this.save();
  }

  /** Forget what was shown (a join without `since` gets a fresh history), keep who we are. */
  resetTimeline() {
    this.messages = new Map();
  }

  isOwn(message) {
    return (message.sessionId && this.sessionIds.has(message.sessionId))
      || (message.clientId && this.pending.has(message.clientId));
  }

  /**
   * Records a chat message from the server. Returns 'new' (show it), 'duplicate' (already shown),
   * and in both cases settles a pending message with the same clientId.
   */
  receive(message) {
    const settled = message.clientId ? this.pending.get(message.clientId) : undefined;
    if (settled) this.pending.delete(message.clientId);
    const id = message.id ?? message.messageId;
    let result = 'new';
    if (id != null && this.messages.has(id)) {
      result = 'duplicate';
    } else if (id != null) {
      this.messages.set(id, message);
      if (isStreamId(id) && (!this.lastId || compareStreamIds(id, this.lastId) > 0)) this.lastId = id;
    }
    if (settled || result === 'new') this.save();
    return { result, settled };
  }

  addPending({ clientId, text, image, replyTo }) {
    const entry = { clientId, text, image, replyTo, createdAt: Date.now(), sentAt: 0, status: 'waiting' };
    this.pending.set(clientId, entry);
    this.save();
    return entry;
  }

  dropPending(clientId) {
    this.pending.delete(clientId);
    this.save();
  }

  save() {
    if (!this.roomId) return;
    const record = {
      roomId: this.roomId,
      username: this.username,
      sessionIds: [...this.sessionIds].slice(-20),
      lastId: this.lastId,
      pending: [...this.pending.values()].map(({ clientId, text, image, replyTo, createdAt }) =>
        ({ clientId, text, image, replyTo, createdAt })),
    };
    tabStore.set(KEY, record);
  }
}
