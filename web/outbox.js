// Messages on their way out: every message is pending (shown greyed in the timeline) until the
// server echoes its clientId back. Pending messages go out once the page is joined, again after a
// reconnect or a lost answer (the same clientId, so the server never stores one twice), and their
// status says where they are: 'waiting' (not sent on this connection), 'sending', 'retrying' (the
// server was busy), 'rate-limited' (sent faster than the server's rate limit), both sent again
// when the server said, 'failed' (refused as it is; the user may retry or discard). The messages themselves live in `state.pending` (see state.js), so a refresh keeps them.
// In an end-to-end encrypted room each message is sealed (`seal`, see e2e.js) for the session that
// sends it before it goes, one at a time so they leave in the order they were written.

import { newClientId } from './ids.js';

/** A sent message with no answer after this long is sent again (same clientId, so never stored twice). */
const RESEND_AFTER_MS = 8000;
const RESEND_CHECK_EVERY_MS = 2000;
/** Errors that refuse one particular message: retrying it unchanged cannot succeed. */
const MESSAGE_REFUSALS = new Set(['MESSAGE_TOO_LONG', 'EMPTY_MESSAGE', 'INVALID_IMAGE', 'IMAGE_TOO_LARGE', 'INVALID_REPLY', 'INVALID_CLIENT_ID']);
/** Errors after which the same message succeeds later, and the status they give it meanwhile. */
const MESSAGE_DEFERRALS = new Map([['UNAVAILABLE', 'retrying'], ['RATE_LIMITED', 'rate-limited']]);

export class Outbox {
  #state;
  #connection;
  #timeline;
  #retryTimer = null;
  #sealing = Promise.resolve();
  /**
   * (sessionId, { text, image, replyTo }) → a promise of the sealed payload fields
   * ({ ciphertext, iv }) in an encrypted room; null in a plain one.
   */
  seal = null;

  constructor(state, connection, timeline) {
    this.#state = state;
    this.#connection = connection;
    this.#timeline = timeline;
    // A send that got lost between us and the server (a worker killed mid-flight) is sent again.
    setInterval(() => this.#resendUnanswered(), RESEND_CHECK_EVERY_MS);
  }

  /** A message from the composer: pending at once, out as soon as it can go. */
  add({ text, image, replyTo }) {
    const entry = this.#state.addPending({ clientId: newClientId(), text, image, replyTo });
    this.#timeline.addPending(entry);
    this.#send(entry);
  }

  /** Puts every pending message (back) at the end of the timeline: after a restore or a clear. */
  show() {
    for (const entry of this.#state.pending.values()) this.#timeline.addPending(entry);
  }

  /** The user asks to send a failed message again. */
  retry(clientId) {
    const entry = this.#state.pending.get(clientId);
    if (!entry) return;
    this.#setStatus(entry, 'waiting');
    this.flush();
  }

  discard(clientId) {
    this.#state.dropPending(clientId);
    this.#timeline.removePending(clientId);
  }

  /** The server stored a message we sent: it leaves the outbox (the state already settled it). */
  confirmed(clientId) {
    this.#timeline.removePending(clientId);
  }

  /** Sends every message that is not yet confirmed (and not refused for good), oldest first. */
  flush() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#state.join.phase !== 'joined') return;
    for (const entry of this.#state.pending.values()) if (entry.status !== 'failed') this.#send(entry);
  }

  /** The connection dropped: what was in flight waits for the next join. */
  pause() {
    for (const entry of this.#state.pending.values()) {
      if (entry.status !== 'waiting' && entry.status !== 'failed') this.#setStatus(entry, 'waiting');
    }
  }

  /** An error frame about messages; `retryDelay` is how long the server asked us to wait. */
  handleError(code, clientId, retryDelay) {
    if (MESSAGE_DEFERRALS.has(code)) {
      // The server stored nothing (or, if it did, the same clientId makes the retry harmless).
      const status = MESSAGE_DEFERRALS.get(code);
      for (const entry of this.#state.pending.values()) if (entry.status === 'sending') this.#setStatus(entry, status);
      this.#retryTimer ??= setTimeout(() => this.flush(), retryDelay);
    } else if (MESSAGE_REFUSALS.has(code)) {
      const target = (clientId && this.#state.pending.get(clientId)) || this.#newestInFlight();
      if (target) this.#setStatus(target, 'failed');
    }
  }

  #send(entry) {
    const state = this.#state;
    const payload = { roomId: state.roomId, username: state.username, clientId: entry.clientId };
    if (this.seal) {
      this.#sendSealed(entry, payload);
      return;
    }
    if (entry.text) payload.message = entry.text;
    if (entry.image) payload.image = entry.image;
    if (entry.replyTo) payload.replyTo = entry.replyTo;
    if (state.join.phase === 'joined' && this.#connection.send({ type: 'chat', payload })) {
      entry.sentAt = Date.now();
      this.#setStatus(entry, 'sending');
    } else {
      this.#setStatus(entry, 'waiting');
    }
  }

  #sendSealed(entry, payload) {
    const state = this.#state;
    if (state.join.phase !== 'joined' || !this.#connection.isOpen) {
      this.#setStatus(entry, 'waiting');
      return;
    }
    entry.sentAt = Date.now();
    this.#setStatus(entry, 'sending');
    const { seal } = this;
    const sessionId = state.sessionId;
    this.#sealing = this.#sealing.then(async () => {
      // Sealed once per session: a resend on the same session (a lost answer) repeats the same bytes.
      if (entry.sealed?.sessionId !== sessionId) {
        Object.defineProperty(entry, 'sealed', { value: { sessionId, fields: await seal(sessionId, entry) }, writable: true, configurable: true });
      }
      // A reconnect meanwhile: the next join's flush sends it again, sealed for the new session.
      if (state.pending.get(entry.clientId) !== entry || state.sessionId !== sessionId || state.join.phase !== 'joined') return;
      if (!this.#connection.send({ type: 'chat', payload: { ...payload, ...entry.sealed.fields } })) this.#setStatus(entry, 'waiting');
    }).catch(() => this.#setStatus(entry, 'failed'));
  }

  #resendUnanswered() {
    if (this.#state.join.phase !== 'joined') return;
    const now = Date.now();
    for (const entry of this.#state.pending.values()) {
      if (entry.status === 'sending' && now - entry.sentAt > RESEND_AFTER_MS) this.#send(entry);
    }
  }

  #newestInFlight() {
    let newest = null;
    for (const entry of this.#state.pending.values()) {
      if (entry.status === 'sending' && (!newest || entry.sentAt >= newest.sentAt)) newest = entry;
    }
    return newest;
  }

  #setStatus(entry, status) {
    entry.status = status;
    this.#timeline.setPendingStatus(entry.clientId, status);
  }
}
