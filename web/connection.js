// The WebSocket to the server and nothing else: connecting, reconnecting with back-off, noticing a
// dead link. It knows no chat semantics; frames go out as objects and come back parsed.

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const JITTER = 0.2;
/** After this many failed attempts in a row the page says "disconnected" (it still keeps trying). */
const ATTEMPTS_BEFORE_DISCONNECTED = 5;
/** Close codes a healthy server sends when it goes away on purpose: 1001 shutdown, 1012 restart. */
const PLANNED_CLOSES = new Set([1001, 1012]);
/** Close codes after which coming back is pointless: 4001, removed from the room by its owner. */
const FINAL_CLOSES = new Set([4001]);
const PING_AFTER_SILENCE_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

/** 1 s, 2 s, 4 s … 30 s, each ±20 % so a crowd of clients does not come back in lockstep. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
  return Math.round(base * (1 + (random() * 2 - 1) * JITTER));
}

export function defaultSocketURL(loc = window.location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

/**
 * Status values: 'idle' (never started), 'connecting' (first attempt), 'connected',
 * 'reconnecting' (lost, retrying), 'disconnected' (several attempts failed, still retrying).
 */
export class Connection {
  #url;
  #socket = null;
  #attempt = 0;
  #timer = null;
  #heartbeat = null;
  #lastFrameAt = 0;
  #pingSentAt = 0;
  #stopped = true;
  #everConnected = false;

  status = 'idle';
  /** When the next attempt is due (ms since epoch), for the "retrying in 3 s" text. */
  nextAttemptAt = 0;

  constructor(url, { onFrame, onOpen, onStatus, onEnded } = {}) {
    this.#url = url;
    this.onFrame = onFrame ?? (() => {});
    /** Called with the close code when the server ended the connection for good (see FINAL_CLOSES). */
    this.onEnded = onEnded ?? (() => {});
    this.onOpen = onOpen ?? (() => {});
    this.onStatus = onStatus ?? (() => {});
    // A browser that knows it is offline or back online says so before any timer would.
    window.addEventListener('online', () => this.#stopped || this.reconnectNow());
    window.addEventListener('offline', () => this.#drop());
  }

  get isOpen() {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#open();
  }

  /** Closes for good (leaving the room); `start` opens again. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stopHeartbeat();
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, 'bye');
    this.#setStatus('idle');
  }

  /** Skips the back-off wait (the user pressed "retry now", or the browser came online). */
  reconnectNow() {
    if (this.#stopped || this.isOpen || this.#socket?.readyState === WebSocket.CONNECTING) return;
    clearTimeout(this.#timer);
    this.#open();
  }

  /** Sends one frame; false when the socket is not open (the caller keeps the message pending). */
  send(frame) {
    if (!this.isOpen) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  #open() {
    this.#setStatus(this.#everConnected ? this.#lostStatus() : 'connecting');
    let socket;
    try {
      socket = new WebSocket(this.#url);
    } catch {
      this.#scheduleReconnect(false);
      return;
    }
    this.#socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== this.#socket) return;
      this.#attempt = 0;
      this.#everConnected = true;
      this.#lastFrameAt = Date.now();
      this.#pingSentAt = 0;
      this.#startHeartbeat();
      this.#setStatus('connected');
      this.onOpen();
    });
    socket.addEventListener('message', (event) => {
      if (socket !== this.#socket) return;
      this.#lastFrameAt = Date.now();
      this.#pingSentAt = 0;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // Not ours to interpret; the protocol is JSON only.
      }
      if (frame && typeof frame === 'object') this.onFrame(frame);
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.#socket) return;
      this.#socket = null;
      this.#stopHeartbeat();
      if (this.#stopped) return;
      if (FINAL_CLOSES.has(event.code)) {
        this.stop();
        this.onEnded(event.code);
        return;
      }
      this.#scheduleReconnect(PLANNED_CLOSES.has(event.code));
    });
    // 'error' is always followed by 'close', which does the work.
  }

  /** Gives up on the current socket at once: a dead link may take minutes to report its close. */
  #drop() {
    const socket = this.#socket;
    if (!socket || this.#stopped) return;
    this.#socket = null;
    this.#stopHeartbeat();
    socket.close(4000, 'no answer');
    this.#scheduleReconnect(false);
  }

  #scheduleReconnect(planned) {
    // A planned close means another worker is ready right now: come back at once, spread over a
    // second so a whole drained worker's clients do not arrive in the same millisecond.
    const delay = planned ? Math.round(50 + Math.random() * 950) : backoffDelay(this.#attempt++);
    this.nextAttemptAt = Date.now() + delay;
    this.#setStatus(this.#lostStatus());
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  #lostStatus() {
    return this.#attempt >= ATTEMPTS_BEFORE_DISCONNECTED || !navigator.onLine ? 'disconnected' : 'reconnecting';
  }

  // The server pings at the WebSocket level, which the browser answers without telling the page; a
  // link that silently died (a laptop waking from sleep) is only noticed by asking ourselves.
  #startHeartbeat() {
    this.#stopHeartbeat();
    this.#heartbeat = setInterval(() => {
      const now = Date.now();
      if (this.#pingSentAt && this.#lastFrameAt < this.#pingSentAt && now - this.#pingSentAt > PONG_TIMEOUT_MS) {
        this.#drop();
        return;
      }
      if (!this.#pingSentAt && now - this.#lastFrameAt > PING_AFTER_SILENCE_MS && this.send({ type: 'ping' })) {
        this.#pingSentAt = now;
      }
    }, 5000);
  }

  #stopHeartbeat() {
    clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #setStatus(status) {
    if (this.status === status && status !== 'reconnecting' && status !== 'disconnected') return;
    this.status = status;
    this.onStatus(status);
  }
}
