// Typing indicators: the line under the timeline that says who is typing ("Ada is typing…",
// several collapse to "3 people are typing…"), and telling the room while you type. The server
// relays `typing` only to joins that asked for the feature (session.js sends `features`) and
// drops more than one per connection per 2 s, so the sender keeps to that pace too.

/** The least time between two `typing` frames this page sends (the server's limit). */
export const SEND_INTERVAL_MS = 2000;
/** How long a name stays on the line after its last `typing` frame. */
export const SHOW_MS = 6000;

/** The line's text for the names typing now, in the order they started. */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  return `${names.length} people are typing…`;
}

export class Typing {
  #line;
  #send;
  /** sessionId → { name, timer }, in the order they started typing. */
  #typers = new Map();
  #lastSent = -Infinity;

  /**
   * @param line the element showing the text (an aria-live region, always in the page).
   * @param send sends one frame to the server; returns false when it could not.
   */
  constructor(line, send) {
    this.#line = line;
    this.#send = send;
  }

  /** The user typed in the composer: tell the room, at most once per SEND_INTERVAL_MS. */
  typed(now = Date.now()) {
    if (now - this.#lastSent < SEND_INTERVAL_MS) return;
    if (this.#send({ type: 'typing' }) !== false) this.#lastSent = now;
  }

  /** A message was sent: the next keystroke may say "typing" again at once. */
  sent() {
    this.#lastSent = -Infinity;
  }

  /** A `typing` frame from someone else. */
  heard(frame) {
    const id = String(frame.sessionId ?? '');
    if (!id) return;
    const known = this.#typers.get(id);
    if (known) clearTimeout(known.timer);
    const timer = setTimeout(() => this.stopped(id), SHOW_MS);
    this.#typers.set(id, { name: String(frame.username ?? 'Someone'), timer });
    this.#render();
  }

  /** That person's message arrived (or they left): they are no longer typing. */
  stopped(sessionId) {
    const known = this.#typers.get(sessionId);
    if (!known) return;
    clearTimeout(known.timer);
    this.#typers.delete(sessionId);
    this.#render();
  }

  /** Left the room or lost the connection: nobody is typing any more, as far as we know. */
  clear() {
    for (const { timer } of this.#typers.values()) clearTimeout(timer);
    this.#typers.clear();
    this.#lastSent = -Infinity;
    this.#render();
  }

  #render() {
    const text = typingText([...this.#typers.values()].map((t) => t.name));
    // Unchanged text is not set again: a screen reader would announce it once more.
    if (this.#line.textContent !== text) this.#line.textContent = text;
  }
}
