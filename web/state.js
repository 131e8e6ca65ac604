// Everything the page knows, in one object: the server's limits, the room it is in (who we are,
// which messages it has shown, the last stream position it saw, the messages still waiting to be
// confirmed), how far the join on this connection got, and the unread count. No DOM, no socket.
// Only the room part is saved, per tab, so a refresh goes straight back in.

import { prefs, tabStore } from './storage.js';

const KEY = 'echo.room';
/** roomId → ownerKey, per browser: the owner of a room stays its owner in any tab. */
const OWNER_KEYS = 'echo.ownerKeys';
const OWNER_KEYS_KEPT = 50;

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
  /** The secret of an end-to-end encrypted room (its link's part after the dot), null for a plain room. */
  secret = null;
  /** The room's ownerKey when this browser created it (the `session` frame gave it), else null. */
  ownerKey = null;
  /** Whether the owner locked the room (the `session` and `lock` frames say). */
  locked = false;
  /** The current connection's session; null until the server's `session` frame. */
  sessionId = null;
  /** Every session this tab has had in this room: our own messages stay "ours" across reconnects. */
  sessionIds = new Set();
  lastId = null;
  /** clientId → { clientId, text, image, replyTo, createdAt, sentAt, status } */
  pending = new Map();
  /** id → message, for reply previews and de-duplication. */
  messages = new Map();
  /** Positions of the edit, delete and react entries applied: each is applied once. */
  entries = new Set();
  /**
   * sessionId → name of the sessions this page saw in the room (joins, messages; leaves remove
   * them), newest last. The server gives no member list, and a kick must name a session that is
   * still there: an author who reconnected has a new one.
   */
  present = new Map();

  /** Restores the room of this tab after a refresh; false when there is none. */
  restore() {
    const saved = tabStore.get(KEY);
    if (!saved?.roomId || !saved?.username) return false;
    this.roomId = saved.roomId;
    this.username = saved.username;
    this.secret = typeof saved.secret === 'string' && saved.secret ? saved.secret : null;
    this.sessionIds = new Set(saved.sessionIds ?? []);
    this.lastId = isStreamId(saved.lastId) ? saved.lastId : null;
    this.pending = new Map((saved.pending ?? []).map((p) => [p.clientId, { ...p, sentAt: 0, status: 'waiting' }]));
    this.join = { phase: 'idle', action: 'rejoin', done: false };
    this.ownerKey = storedOwnerKey(this.roomId);
    return true;
  }

  /** @param action the first join's action: 'create' or 'join'. */
  enter(roomId, username, action) {
    const sameRoom = roomId === this.roomId;
    this.join = { phase: 'idle', action, done: false };
    this.roomId = roomId;
    this.username = username;
    this.sessionId = null;
    this.ownerKey = storedOwnerKey(roomId);
    if (!sameRoom) {
      this.sessionIds = new Set();
      this.lastId = null;
      this.pending = new Map();
      this.messages = new Map();
      this.entries = new Set();
      this.present = new Map();
      this.locked = false;
    }
    this.save();
  }

  leave() {
    this.join = { phase: 'idle', action: null, done: false };
    this.unread = 0;
    this.roomId = null;
    this.username = null;
    this.secret = null;
    this.sessionId = null;
    this.sessionIds = new Set();
    this.lastId = null;
    this.pending = new Map();
    this.messages = new Map();
    this.entries = new Set();
    this.present = new Map();
    this.ownerKey = null;
    this.locked = false;
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
    this.entries = new Set();
  }

  setOwnerKey(key) {
    this.ownerKey = key;
    const keys = prefs.get(OWNER_KEYS, {});
    const kept = Object.entries(keys && typeof keys === 'object' ? keys : {}).filter(([room]) => room !== this.roomId);
    prefs.set(OWNER_KEYS, Object.fromEntries([...kept.slice(-(OWNER_KEYS_KEPT - 1)), [this.roomId, key]]));
  }

  /** A session joined or spoke just now: it is in the room. */
  seen(sessionId, username) {
    if (!sessionId) return;
    this.present.delete(sessionId);
    this.present.set(sessionId, String(username ?? ''));
  }

  /** A session left or was removed. */
  gone(sessionId) {
    this.present.delete(sessionId);
  }

  /**
   * The session to remove for a message: its own while present, else the newest present one of
   * the same name (the author reconnected since, e.g. after a reload), else its own.
   */
  kickTarget(message) {
    if (this.present.has(message.sessionId)) return message.sessionId;
    const same = [...this.present].filter(([, name]) => name === message.sender);
    return same.length ? same[same.length - 1][0] : message.sessionId;
  }

  /**
   * A reaction (see reactionsFrom) this page's person made: the server keeps one reaction per
   * authorKey (this browser's, sent in every join), so any session this page had in the room, before
   * a reload or a reconnect too, is ours; one a history knows only by name is ours when the name is.
   * Pressing it again takes it back (the server answers `on:false` naming the session it was made by).
   */
  isMine(key) {
    if (this.sessionIds.has(key)) return true;
    return key.startsWith('#') && key.slice(key.indexOf(':') + 1) === this.username;
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

  /**
   * An edit, delete or react entry (a frame, or listed in a history): records its position like a
   * message's, and returns false when it was applied already (a resume or resync may list it again).
   */
  receiveEntry(entry) {
    const id = entry.id;
    if (id == null) return true;
    if (this.entries.has(id)) return false;
    this.entries.add(id);
    if (isStreamId(id) && (!this.lastId || compareStreamIds(id, this.lastId) > 0)) {
      this.lastId = id;
      this.save();
    }
    return true;
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
      secret: this.secret,
      sessionIds: [...this.sessionIds].slice(-20),
      lastId: this.lastId,
      pending: [...this.pending.values()].map(({ clientId, text, image, replyTo, createdAt }) =>
        ({ clientId, text, image, replyTo, createdAt })),
    };
    tabStore.set(KEY, record);
  }
}

function storedOwnerKey(roomId) {
  const keys = prefs.get(OWNER_KEYS, {});
  const key = keys && typeof keys === 'object' ? keys[roomId] : null;
  return typeof key === 'string' && key ? key : null;
}

// ------------------------------------------------------------------------------------------------
// Edits, deletes and reactions, applied to a message as the server folds them (docs/protocol.md):
// every rule is absolute (the newest text, deleted for good, a session's reaction on or off), so
// applying one twice changes nothing.

/** An `edit` entry: the newest text wins (entries arrive in stream order). */
export function applyEdit(message, entry) {
  if (message.deleted) return false;
  if (entry.undecryptable) {
    // An edit of an encrypted room that did not open: what the message says now is unknown.
    if (message.undecryptable) return false;
    Object.assign(message, { undecryptable: true, text: '', image: null, replyTo: null });
    return true;
  }
  if (typeof entry.text !== 'string') return false;
  message.text = entry.text;
  message.editedAt = entry.editedAt ?? message.editedAt ?? Date.now();
  return true;
}

/** A `delete` entry, or a tombstone: no text, no image, no reactions left. */
export function applyDelete(message) {
  if (message.deleted) return false;
  message.deleted = true;
  message.undecryptable = false;
  message.text = '';
  message.image = null;
  message.replyTo = null;
  message.reactions = new Map();
  return true;
}

/**
 * The `reactions` a history gives a message ({"👍": ["ada","grace"]}, final for everything in that
 * history) as emoji → (who → name); names from history have no session, so they are keyed by place.
 */
export function reactionsFrom(folded) {
  const reactions = new Map();
  if (!folded || typeof folded !== 'object') return reactions;
  for (const [emoji, names] of Object.entries(folded)) {
    if (!Array.isArray(names) || !names.length) continue;
    reactions.set(emoji, new Map(names.map((name, i) => [`#${i}:${name}`, String(name)])));
  }
  return reactions;
}

/** A `react` entry: that session's reaction with that emoji, on or off. */
export function applyReaction(message, entry) {
  if (message.deleted || typeof entry.emoji !== 'string' || !entry.emoji) return false;
  if (!(message.reactions instanceof Map)) message.reactions = reactionsFrom(message.reactions);
  const who = message.reactions.get(entry.emoji) ?? new Map();
  const key = String(entry.sessionId ?? '');
  const name = String(entry.username ?? '');
  if (entry.on) {
    if (who.has(key)) return false;
    who.set(key, name);
  } else if (who.has(key)) {
    who.delete(key);
  } else {
    // Taken back by a reaction known only by name (from a history): one of that name goes.
    const byName = [...who.keys()].find((k) => k.startsWith('#') && who.get(k) === name);
    if (!byName) return false;
    who.delete(byName);
  }
  if (who.size) message.reactions.set(entry.emoji, who);
  else message.reactions.delete(entry.emoji);
  return true;
}
