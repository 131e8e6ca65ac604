// Being in a room over a connection that comes and goes: the join sent on every (re)connect (in an
// end-to-end encrypted room after a `challenge`, answered with the proof of key), the resume from
// the last position seen (`since`), what the `session` and `history` frames mean, and the
// join-level errors (refused, busy, not joined). It decides; the page renders (app.js).
// Its state is `state.join` (see state.js).

import { AUTHOR_KEY_PATTERN, newAuthorKey } from './ids.js';
import { isStreamId, limitsFrom } from './state.js';
import { prefs } from './storage.js';

/** The optional frames this page draws (`features` in the join; the server answers the ones it has). */
export const FEATURES = ['typing', 'edit', 'react', 'moderation'];

/**
 * Errors that refuse the join itself: the name, the room code or the link's key has to change
 * first (or the owner unlocks). None is retried: a wrong key asked again is still wrong.
 */
const JOIN_REFUSALS = new Set(['ROOM_NOT_FOUND', 'INVALID_USERNAME', 'INVALID_ROOM_ID', 'ROOM_LOCKED',
  'KEY_REQUIRED', 'BAD_KEY_PROOF', 'ROOM_NOT_ENCRYPTED']);

const AUTHOR_KEY = 'echo.authorKey';

/**
 * This browser's authorKey (see docs/protocol.md, Edit and delete): made at first use and kept in
 * localStorage, so one's messages stay one's own across reloads, tabs and reconnects.
 */
export function authorKey() {
  const known = prefs.get(AUTHOR_KEY);
  if (typeof known === 'string' && AUTHOR_KEY_PATTERN.test(known)) return known;
  const made = newAuthorKey();
  prefs.set(AUTHOR_KEY, made);
  return made;
}
/** Errors after which the same join succeeds later: storage down, a draining worker, too many joins. */
const JOIN_DEFERRALS = new Set(['UNAVAILABLE', 'RATE_LIMITED']);

export class Session {
  #state;
  #connection;
  /** The encrypted room's keys (crypto.js RoomKeys), or null in a plain room. */
  #keys = null;
  /** The join waiting for its challenge: { payload, keys, seq }. */
  #awaiting = null;
  #seq = 0;

  constructor(state, connection) {
    this.#state = state;
    this.#connection = connection;
  }

  get joined() {
    return this.#state.join.phase === 'joined';
  }

  /** The room's keys when it is end-to-end encrypted (null: a plain room): every join proves them. */
  set keys(keys) {
    this.#keys = keys;
  }

  /** Enters a room from the join screen: `action` is 'create' or 'join'. */
  start(roomId, username, action) {
    this.#state.enter(roomId, username, action);
    if (this.#connection.isOpen) this.#join(action);
    else this.#connection.start();
  }

  /** Goes back into the room restored from this tab's storage (a refresh). */
  resume() {
    this.#connection.start();
  }

  /** @param announce false when the room was never joined (the join was refused). */
  leave({ announce = true } = {}) {
    const { roomId, username } = this.#state;
    if (announce && roomId) this.#connection.send({ type: 'leave', payload: { roomId, username } });
    this.#awaiting = null;
    this.#connection.stop();
    this.#state.leave();
  }

  /** The socket is open (first time or again): join, resuming if anything was seen. */
  opened() {
    this.#join(this.#state.lastId ? 'rejoin' : this.#state.join.action ?? 'rejoin');
  }

  /** The socket is gone: whatever was joined must be joined again on the next one. */
  lost() {
    this.#state.join.phase = 'idle';
  }

  /**
   * The server's `challenge`: the waiting join goes out with the proof that this page holds the
   * room's key (the signature of the nonce; the key itself never leaves the page).
   */
  async acceptChallenge(frame) {
    const waiting = this.#awaiting;
    this.#awaiting = null;
    if (!waiting || typeof frame.nonce !== 'string') return;
    const proof = await waiting.keys.prove(frame.nonce);
    // Meanwhile the socket may have dropped, or another join started: that one has its own challenge.
    if (waiting.seq !== this.#seq || this.#state.join.phase !== 'joining' || this.#keys !== waiting.keys) return;
    waiting.payload.e2e = { verifier: waiting.keys.verifier, proof };
    this.#connection.send({ type: 'join', payload: waiting.payload });
  }

  /** A `session` frame: true when it is this room's (the join succeeded). */
  acceptSession(frame) {
    // The limits are the server's, whichever room the frame is about.
    this.#state.limits = limitsFrom(frame.limits, this.#state.limits);
    if (frame.roomId && frame.roomId !== this.#state.roomId) return false;
    this.#state.joined(frame.sessionId);
    // Only the join that created the room is given the key; later joins keep the one stored.
    if (typeof frame.ownerKey === 'string' && frame.ownerKey) this.#state.setOwnerKey(frame.ownerKey);
    if (typeof frame.locked === 'boolean') this.#state.locked = frame.locked;
    this.#state.join.phase = 'joined';
    return true;
  }

  /**
   * A `history` frame, and what the timeline must do with it:
   * - `fresh`: it replaces the timeline (a first join or a refresh). After a reconnect with
   *   nothing seen yet it is merged instead, keeping the join and leave lines.
   * - `lost`: a resume that could not reach back far enough (`recovered: false`): say so.
   * - `messages`: the chat messages to show (known ones are de-duplicated by the state).
   * - `greeting`: 'create' or 'join' on the first history of a room entered from the join screen.
   */
  acceptHistory(frame) {
    const join = this.#state.join;
    const resumed = frame.recovered !== undefined;
    const fresh = !resumed && !join.done;
    if (fresh) this.#state.resetTimeline();
    const plan = {
      fresh,
      lost: frame.recovered === false,
      messages: (Array.isArray(frame.messages) ? frame.messages : []).filter((m) => m && m.sender !== 'System'),
      greeting: !join.done && join.action !== 'rejoin' ? join.action : null,
    };
    join.done = true;
    join.action = 'rejoin';
    return plan;
  }

  /**
   * An error frame, seen from the join: 'refused' (the join failed for good: the page shows why),
   * 'deferred' (the join is sent again after `retryDelay` ms), 'rejoining' (the server forgot us:
   * joined again), or null when the error is not about the join.
   */
  handleError(code, retryDelay) {
    const join = this.#state.join;
    if (join.phase === 'joining' && JOIN_REFUSALS.has(code)) {
      join.phase = 'idle';
      return 'refused';
    }
    if (join.phase === 'joining' && JOIN_DEFERRALS.has(code)) {
      join.phase = 'idle';
      setTimeout(() => {
        if (this.#state.roomId && join === this.#state.join && join.phase === 'idle' && this.#connection.isOpen) {
          this.#join(join.action ?? 'rejoin');
        }
      }, retryDelay);
      return 'deferred';
    }
    if (code === 'NOT_JOINED' && this.#state.roomId) {
      this.#join('rejoin');
      return 'rejoining';
    }
    return null;
  }

  #join(action) {
    const state = this.#state;
    if (!state.roomId) return;
    state.join.phase = 'joining';
    state.join.action = action;
    const payload = { roomId: state.roomId, username: state.username, action, features: FEATURES, authorKey: authorKey() };
    // The owner is let into the room even while it is locked.
    if (state.ownerKey) payload.ownerKey = state.ownerKey;
    // Resume from the last position seen; with none (a refresh, or nothing said yet) the plain
    // recent history does the same job.
    if (action === 'rejoin' && state.join.done && isStreamId(state.lastId)) payload.since = state.lastId;
    this.#seq += 1;
    if (!this.#keys) {
      this.#awaiting = null;
      this.#connection.send({ type: 'join', payload });
      return;
    }
    // A challenge is good for one join: every join, rejoin and reconnect asks for a fresh one.
    this.#awaiting = { payload, keys: this.#keys, seq: this.#seq };
    this.#connection.send({ type: 'challenge' });
  }
}
