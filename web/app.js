// The page's controller: wires the screens to the connection, the room state and the timeline, and
// speaks the Echo Chat protocol (docs/protocol.md). Each concern lives in its own module.

import { Composer, MAX_MESSAGE_LENGTH } from './composer.js';
import { Connection, defaultSocketURL } from './connection.js';
import { $, show } from './dom.js';
import { ROOM_CODE_PATTERN, USERNAME_PATTERN, newClientId, newRoomCode } from './ids.js';
import { setUpZoom } from './images.js';
import { Timeline } from './render.js';
import { RoomState, isStreamId } from './state.js';
import { prefs } from './storage.js';
import { setUpThemeToggles } from './theme.js';
import { toast } from './toast.js';

/** A sent message with no answer after this long is sent again (same clientId, so never stored twice). */
const RESEND_AFTER_MS = 8000;
const UNAVAILABLE_RETRY_MS = 3000;
const JOIN_ERRORS = new Set(['ROOM_NOT_FOUND', 'INVALID_USERNAME', 'INVALID_ROOM_ID']);
/** Errors that refuse one particular message: retrying it unchanged cannot succeed. */
const MESSAGE_ERRORS = new Set(['MESSAGE_TOO_LONG', 'EMPTY_MESSAGE', 'INVALID_IMAGE', 'IMAGE_TOO_LARGE', 'INVALID_REPLY', 'INVALID_CLIENT_ID']);
const ERROR_TEXT = {
  ROOM_NOT_FOUND: 'No room with this code exists (or it expired). Check the code, or create a new room.',
  INVALID_USERNAME: 'Names are 1–30 letters, digits, spaces, “_” or “-”.',
  INVALID_ROOM_ID: 'Room codes are 1–50 letters, digits, “_” or “-”.',
  MESSAGE_TOO_LONG: `Messages can be at most ${MAX_MESSAGE_LENGTH} characters.`,
  EMPTY_MESSAGE: 'Type a message or add an image first.',
  INVALID_IMAGE: 'The server refused this image (PNG, JPEG, GIF or WebP only).',
  IMAGE_TOO_LARGE: 'The image is too large.',
  RATE_LIMITED: 'You are sending too fast. Your messages will go out in a moment.',
  UNAVAILABLE: 'The server is busy. Your message will be sent again shortly.',
  ROOM_MISMATCH: 'That message was for another room.',
  NOT_JOINED: 'Not in the room yet: joining again…',
};

const state = new RoomState();
const ui = {
  joinScreen: $('#join-screen'),
  chatScreen: $('#chat-screen'),
  joinForm: $('#join-form'),
  username: $('#username'),
  roomCode: $('#room-code'),
  joinError: $('#join-error'),
  createButton: $('#create-button'),
  joinButton: $('#join-button'),
  roomName: $('#room-name'),
  members: $('#member-count'),
  status: $('#connection-status'),
  retryNow: $('#retry-now'),
};

/** 'idle' | 'joining' (join sent, waiting for session) | 'joined' */
let joinPhase = 'idle';
/** The action of the join in flight, for telling a first join from a rejoin. */
let joinAction = null;
let firstJoinDone = false;
let unread = 0;
let retryTimer = null;

const zoom = setUpZoom($('#zoom'));
const timeline = new Timeline($('#timeline'), $('#jump-latest'), {
  onReply: (message) => composer.startReply(message, state.isOwn(message) ? 'yourself' : String(message.sender)),
  onZoom: zoom,
  onQuoteMissing: () => toast('The original message is no longer in the loaded history.'),
  onRetry: (clientId) => {
    const entry = state.pending.get(clientId);
    if (entry) {
      entry.status = 'waiting';
      timeline.setPendingStatus(clientId, 'waiting');
      flushPending();
    }
  },
  onDiscard: (clientId) => {
    state.dropPending(clientId);
    timeline.removePending(clientId);
  },
});
const connection = new Connection(defaultSocketURL(), {
  onOpen: () => joinRoom(state.lastId ? 'rejoin' : joinAction ?? 'rejoin'),
  onFrame: handleFrame,
  onStatus: showStatus,
});
const composer = new Composer(sendMessage);

// ---------------------------------------------------------------------------------------------
// Screens

function roomFromHash() {
  let raw = location.hash.slice(1);
  try {
    raw = decodeURIComponent(raw);
  } catch {
    return ''; // a malformed %-escape is no room code
  }
  return ROOM_CODE_PATTERN.test(raw) ? raw : '';
}

function roomLink(roomId) {
  return `${location.origin}${location.pathname}#${roomId}`;
}

function showJoinScreen({ code = roomFromHash(), error = '' } = {}) {
  show(ui.chatScreen, false);
  show(ui.joinScreen, true);
  document.title = 'Echo';
  ui.username.value ||= prefs.get('echo.name', '') ?? '';
  ui.roomCode.value = code;
  setJoinError(error);
  setJoinBusy(false);
  (ui.username.value ? (code ? ui.joinButton : ui.createButton) : ui.username).focus();
}

function showChatScreen() {
  show(ui.joinScreen, false);
  show(ui.chatScreen, true);
  ui.roomName.textContent = state.roomId;
  ui.roomName.title = state.roomId;
  // The address bar carries the room, so copying the URL shares it.
  if (location.hash.slice(1) !== state.roomId) history.replaceState(null, '', `#${state.roomId}`);
  updateTitle();
  composer.focus();
}

function setJoinError(message) {
  ui.joinError.textContent = message;
  show(ui.joinError, Boolean(message));
  ui.username.setAttribute('aria-invalid', String(/name/i.test(message)));
  ui.roomCode.setAttribute('aria-invalid', String(/code|room/i.test(message) && !/name/i.test(message)));
}

function setJoinBusy(busy) {
  ui.createButton.disabled = busy;
  ui.joinButton.disabled = busy;
}

function updateTitle() {
  const base = state.roomId ? `Echo · ${state.roomId.slice(0, 8)}` : 'Echo';
  document.title = unread ? `(${unread}) ${base}` : base;
}

function setMembers(count) {
  if (Number.isInteger(count) && count >= 0) ui.members.textContent = `${count} online`;
}

const STATUS_TEXT = { idle: 'Offline', connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' };
let statusTicker = null;

function showStatus(status) {
  ui.status.dataset.status = status;
  const text = ui.status.querySelector('.status-text');
  clearInterval(statusTicker);
  const render = () => {
    const seconds = Math.ceil((connection.nextAttemptAt - Date.now()) / 1000);
    const waiting = (status === 'reconnecting' || status === 'disconnected') && seconds > 1;
    text.textContent = waiting ? `${STATUS_TEXT[status].replace('…', '')}, retrying in ${seconds} s` : STATUS_TEXT[status];
  };
  render();
  if (status === 'reconnecting' || status === 'disconnected') statusTicker = setInterval(render, 1000);
  show(ui.retryNow, status === 'disconnected' || status === 'reconnecting');
  if (!ui.joinScreen.hidden && state.roomId && (status === 'reconnecting' || status === 'disconnected')) {
    setJoinError('Cannot reach the Echo server. Retrying…');
  }
  if (status !== 'connected') {
    joinPhase = 'idle';
    for (const entry of state.pending.values()) {
      if (entry.status === 'sending' || entry.status === 'retrying') setPendingStatus(entry, 'waiting');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Joining and leaving

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const action = event.submitter?.dataset.action ?? (ui.roomCode.value.trim() ? 'join' : 'create');
  const username = ui.username.value.trim();
  if (!USERNAME_PATTERN.test(username)) {
    setJoinError(username ? ERROR_TEXT.INVALID_USERNAME : 'Enter your name first.');
    ui.username.focus();
    return;
  }
  let roomId;
  if (action === 'create') {
    roomId = newRoomCode();
  } else {
    // Accept a pasted link as well as a bare code.
    const raw = ui.roomCode.value.trim();
    roomId = raw.includes('#') ? raw.slice(raw.lastIndexOf('#') + 1) : raw;
    if (!ROOM_CODE_PATTERN.test(roomId)) {
      setJoinError(roomId ? ERROR_TEXT.INVALID_ROOM_ID : 'Enter a room code, or create a new room.');
      ui.roomCode.focus();
      return;
    }
  }
  prefs.set('echo.name', username);
  setJoinError('');
  setJoinBusy(true);
  state.enter(roomId, username);
  timeline.clear();
  firstJoinDone = false;
  joinAction = action;
  if (connection.isOpen) joinRoom(action);
  else connection.start();
});

function joinRoom(action) {
  if (!state.roomId) return;
  joinPhase = 'joining';
  joinAction = action;
  const payload = { roomId: state.roomId, username: state.username, action };
  // Resume from the last position seen; with none (a refresh, or nothing said yet) the plain
  // recent history does the same job.
  if (action === 'rejoin' && firstJoinDone && isStreamId(state.lastId)) payload.since = state.lastId;
  connection.send({ type: 'join', payload });
}

$('#leave-button').addEventListener('click', () => {
  if (state.roomId) connection.send({ type: 'leave', payload: { roomId: state.roomId, username: state.username } });
  connection.stop();
  state.leave();
  firstJoinDone = false;
  joinAction = null;
  composer.reset();
  timeline.clear();
  unread = 0;
  history.replaceState(null, '', location.pathname);
  showJoinScreen({ code: '' });
});

$('#retry-now').addEventListener('click', () => connection.reconnectNow());

window.addEventListener('hashchange', () => {
  const code = roomFromHash();
  if (!ui.joinScreen.hidden && code) ui.roomCode.value = code;
  else if (state.roomId && code && code !== state.roomId) {
    // Another room's link opened in this tab: offer to join it.
    $('#leave-button').click();
    ui.roomCode.value = code;
  }
});

// ---------------------------------------------------------------------------------------------
// Frames from the server

function handleFrame(frame) {
  switch (frame.type) {
    case 'session': return onSession(frame);
    case 'history': return onHistory(frame);
    case 'error': return onError(frame);
    case 'pong': return undefined;
    case 'chat': return onChat(frame);
    default:
      if (frame.sender === 'System') return onSystem(frame);
      if ('text' in frame || 'image' in frame) return onChat(frame);
      return undefined;
  }
}

function onSession(frame) {
  if (frame.roomId && frame.roomId !== state.roomId) return;
  state.joined(frame.sessionId);
  joinPhase = 'joined';
  setJoinBusy(false);
  if (!ui.chatScreen.hidden) return;
  showChatScreen();
}

function onHistory(frame) {
  const messages = Array.isArray(frame.messages) ? frame.messages : [];
  const resumed = frame.recovered !== undefined;
  if (!resumed && !firstJoinDone) {
    // A full history replaces the timeline: this is a first join or a refresh. (After a reconnect
    // with nothing seen yet, the history is merged instead, keeping the join and leave lines.)
    state.resetTimeline();
    timeline.clear();
    for (const entry of state.pending.values()) timeline.addPending(entry);
  } else if (frame.recovered === false) {
    timeline.addNotice('Some messages sent while you were away could not be recovered: the room’s history no longer reaches back that far.');
  }
  for (const message of messages) {
    if (message && message.sender !== 'System') onChat(message, { fromHistory: true });
  }
  if (!firstJoinDone && joinAction !== 'rejoin') {
    timeline.addSystem(joinAction === 'create' ? 'You created the room. Share the link to invite people.' : 'You joined the room.', Date.now());
  }
  firstJoinDone = true;
  joinAction = 'rejoin';
  timeline.scrollToEnd(true);
  flushPending();
}

function onChat(message, { fromHistory = false } = {}) {
  if (message.roomId && message.roomId !== state.roomId) return;
  const own = state.isOwn(message);
  const { result, settled } = state.receive(message);
  if (settled) timeline.removePending(message.clientId);
  if (result === 'duplicate') return;
  timeline.addMessage(message, { own });
  if (!own && !fromHistory && document.hidden) {
    unread += 1;
    updateTitle();
  }
}

function onSystem(event) {
  setMembers(event.usersCount);
  // Our own join and leave (including a previous session's, after a reconnect) are noise to us.
  if (state.sessionIds.has(event.sessionId)) return;
  const name = String(event.username ?? 'Someone');
  const text = event.message === 'join' ? `${name} joined` : event.message === 'leave' ? `${name} left` : `${name}: ${String(event.message ?? '')}`;
  timeline.addSystem(text, event.timestamp);
}

function onError(frame) {
  const code = String(frame.code ?? '');
  const text = ERROR_TEXT[code] ?? String(frame.message ?? 'Something went wrong.');
  if (joinPhase === 'joining' && JOIN_ERRORS.has(code)) {
    joinPhase = 'idle';
    if (ui.chatScreen.hidden) {
      // Inline on the join screen: the user can fix the code or name right there.
      connection.stop();
      state.leave();
      showJoinScreen({ code: ui.roomCode.value, error: text });
      (code === 'INVALID_USERNAME' ? ui.username : ui.roomCode).focus();
      return;
    }
  }
  const hinted = Number(frame.retryAfterMs);
  const retryDelay = Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted, 60000) : UNAVAILABLE_RETRY_MS;
  if (code === 'UNAVAILABLE' && joinPhase === 'joining') {
    // The join itself was refused (storage down, or this worker draining): ask again shortly.
    joinPhase = 'idle';
    if (ui.chatScreen.hidden) setJoinError('The server is busy. Trying again…');
    setTimeout(() => {
      if (state.roomId && joinPhase === 'idle' && connection.isOpen) joinRoom(joinAction ?? 'rejoin');
    }, retryDelay);
    return;
  }
  toast(text, { kind: 'error' });
  if (code === 'UNAVAILABLE' || code === 'RATE_LIMITED') {
    // The server stored nothing (or, if it did, the same clientId makes the retry harmless).
    for (const entry of state.pending.values()) if (entry.status === 'sending') setPendingStatus(entry, 'retrying');
    scheduleRetry(retryDelay);
  } else if (code === 'NOT_JOINED' && state.roomId) {
    joinRoom('rejoin');
  } else if (MESSAGE_ERRORS.has(code)) {
    const target = (frame.clientId && state.pending.get(frame.clientId)) || newestInFlight();
    if (target) setPendingStatus(target, 'failed');
  }
}

// ---------------------------------------------------------------------------------------------
// Sending: every message is pending until the server echoes its clientId back.

function setPendingStatus(entry, status) {
  entry.status = status;
  timeline.setPendingStatus(entry.clientId, status);
}

function newestInFlight() {
  let newest = null;
  for (const entry of state.pending.values()) if (entry.status === 'sending' && (!newest || entry.sentAt >= newest.sentAt)) newest = entry;
  return newest;
}

function sendEntry(entry) {
  const payload = { roomId: state.roomId, username: state.username, clientId: entry.clientId };
  if (entry.text) payload.message = entry.text;
  if (entry.image) payload.image = entry.image;
  if (entry.replyTo) payload.replyTo = entry.replyTo;
  if (joinPhase === 'joined' && connection.send({ type: 'chat', payload })) {
    entry.sentAt = Date.now();
    setPendingStatus(entry, 'sending');
  } else {
    setPendingStatus(entry, 'waiting');
  }
}

/** Sends every message that is not yet confirmed (and not refused for good), oldest first. */
function flushPending() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (joinPhase !== 'joined') return;
  for (const entry of state.pending.values()) if (entry.status !== 'failed') sendEntry(entry);
}

function scheduleRetry(delay) {
  if (retryTimer) return;
  retryTimer = setTimeout(flushPending, delay);
}

// A send that got lost between us and the server (a worker killed mid-flight) is sent again.
setInterval(() => {
  if (joinPhase !== 'joined') return;
  const now = Date.now();
  for (const entry of state.pending.values()) {
    if (entry.status === 'sending' && now - entry.sentAt > RESEND_AFTER_MS) sendEntry(entry);
  }
}, 2000);

/** Called by the composer: the message becomes pending at once and goes out when it can. */
function sendMessage({ text, image, replyTo }) {
  const entry = state.addPending({ clientId: newClientId(), text, image, replyTo });
  timeline.addPending(entry);
  sendEntry(entry);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Copying, unread count, global keys

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied.`);
  } catch {
    // No clipboard access (plain http on a LAN address): let the user copy by hand.
    toast(`${what}: ${text}`, { timeout: 15000 });
  }
}
$('#copy-code').addEventListener('click', () => copy(state.roomId, 'Room code'));
$('#copy-link').addEventListener('click', () => copy(roomLink(state.roomId), 'Room link'));

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && unread) {
    unread = 0;
    updateTitle();
  }
});

document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.defaultPrevented || ui.chatScreen.hidden) return;
  // An open <dialog> (the zoomed image) handles its own Escape.
  if (!document.querySelector('dialog[open]')) composer.escape();
});

// ---------------------------------------------------------------------------------------------
// Start: a refresh (or a restored tab) goes straight back into its room.

setUpThemeToggles();
const linked = roomFromHash();
if (state.restore() && (!linked || linked === state.roomId)) {
  joinAction = 'rejoin';
  showChatScreen();
  for (const entry of state.pending.values()) timeline.addPending(entry);
  connection.start();
} else {
  state.leave();
  showJoinScreen({ code: linked });
}
