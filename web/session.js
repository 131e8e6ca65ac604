// Being in a room over a connection that comes and goes: the join sent on every (re)connect, the
// resume from the last position seen (`since`), what the `session` and `history` frames mean, and
// the join-level errors (refused, busy, not joined). It decides; the page renders (app.js).
// Its state is `state.join` (see state.js).

import { AUTHOR_KEY_PATTERN, newAuthorKey } from './ids.js';
import { isStreamId, limitsFrom } from './state.js';
import { prefs } from './storage.js';

/** The optional frames this page draws (`features` in the join; the server answers the ones it has). */
export const FEATURES = ['typing', 'edit', 'react', 'moderation'];

/** Errors that refuse the join itself: the name or the room code has to change first (or the owner unlocks). */
const JOIN_REFUSALS = new Set(['ROOM_NOT_FOUND', 'INVALID_USERNAME', 'INVALID_ROOM_ID', 'ROOM_LOCKED']);

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

  constructor(state, connection) {
    this.#state = state;
    this.#connection = connection;
  }

  get joined() {
    return this.#state.join.phase === 'joined';
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
    this.#connection.send({ type: 'join', payload });
  }
}
