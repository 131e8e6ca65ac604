// The page's wiring: the two screens, the connection status, and the frames from the server routed
// to the module that owns them (session.js: joining and resuming; outbox.js: sending; render.js:
// the timeline; state.js: what edits, deletes and reactions do to a message). Everything the page
// knows is in one PageState (state.js). In an end-to-end encrypted room (the link's fragment
// carries the key) every frame is opened by e2e.js before it is handled, in arrival order, and
// everything a person writes is sealed before it is sent.

import { Composer } from './composer.js';
import { confirmAction } from './confirm.js';
import { Connection, defaultSocketURL } from './connection.js';
import { encryptionAvailable, encryptionSupport, newSecret, parseFragment } from './crypto.js';
import { $, show } from './dom.js';
import { RoomCrypto } from './e2e.js';
import { ReactionPicker } from './emoji-picker.js';
import { ROOM_CODE_PATTERN, USERNAME_PATTERN, newRoomCode } from './ids.js';
import { formatSize, setUpZoom } from './images.js';
import { PopupMenu } from './menu.js';
import { Notifier } from './notify.js';
import { Outbox } from './outbox.js';
import { Timeline, replyPreview } from './render.js';
import { Session } from './session.js';
import { StatusLine } from './status.js';
import { PageState, applyDelete, applyEdit, applyReaction, reactionsFrom } from './state.js';
import { prefs } from './storage.js';
import { setUpThemeToggles } from './theme.js';
import { toast } from './toast.js';
import { Typing } from './typing.js';

/** When the server asks to wait without saying how long. */
const UNAVAILABLE_RETRY_MS = 3000;

/** What the page says for an error code; the limits are the server's, from its session frame. */
function errorText(code, frame, { messageLength, imageBytes, ratePerMinute }) {
  switch (code) {
    case 'ROOM_NOT_FOUND': return 'No room with this code exists (or it expired). Check the code, or create a new room.';
    case 'INVALID_USERNAME': return 'Names are 1–30 letters, digits, spaces, “_” or “-”.';
    case 'INVALID_ROOM_ID': return 'Room codes are 1–50 letters, digits, “_” or “-”.';
    case 'MESSAGE_TOO_LONG': return `Messages can be at most ${messageLength} characters.`;
    case 'EMPTY_MESSAGE': return 'Type a message or add an image first.';
    case 'INVALID_IMAGE': return 'The server refused this image (PNG, JPEG, GIF or WebP only).';
    case 'IMAGE_TOO_LARGE': return `The image is too large: images can be at most ${formatSize(imageBytes)}.`;
    case 'RATE_LIMITED': return ratePerMinute > 0
      ? `You are sending too fast (at most ${ratePerMinute} messages a minute). Your messages will go out in a moment.`
      : 'You are sending too fast. Your messages will go out in a moment.';
    case 'UNAVAILABLE': return 'The server is busy. Your message will be sent again shortly.';
    case 'ROOM_MISMATCH': return 'That message was for another room.';
    case 'NOT_JOINED': return 'Not in the room yet: joining again…';
    case 'NOT_AUTHOR': return 'Only the person who wrote a message can change it, from the browser they wrote it in.';
    case 'EDIT_WINDOW_CLOSED': return 'This message is too old to edit now (you can still delete it).';
    case 'MESSAGE_NOT_FOUND': return 'That message is no longer in the room’s history.';
    case 'TOO_MANY_REACTIONS': return 'This message has as many different reactions as it can take: add to one of those.';
    case 'NOT_OWNER': return 'Only the room’s owner can do that.';
    case 'ROOM_LOCKED': return 'This room is locked: its owner is not letting anyone new in.';
    case 'ROOM_NOT_ENCRYPTED': return 'This room is not end-to-end encrypted: its link has no key. Join it with its code alone.';
    default: return String(frame.message ?? 'Something went wrong.');
  }
}

function retryDelay(frame) {
  const hinted = Number(frame.retryAfterMs);
  return Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted, 60000) : UNAVAILABLE_RETRY_MS;
}

const state = new PageState();
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
  lockState: $('#lock-state'),
  ownerButton: $('#owner-button'),
  joinCard: $('#join-card'),
  encrypt: $('#encrypt-room'),
  encryptHint: $('#encrypt-hint'),
  e2eState: $('#e2e-state'),
  problemCard: $('#problem-card'),
  problemTitle: $('#problem-title'),
  problemBody: $('#problem-body'),
};

/** The refusals that get a screen of their own instead of a line on the join form. */
const PROBLEMS = {
  KEY_REQUIRED: ['This link is missing its key',
    'This room is end-to-end encrypted, and its key is the part of the link after the dot. Ask for the whole link.'],
  BAD_KEY_PROOF: ['This key does not open this room',
    'The key in this link is not the room’s key (it was changed or belongs to another room). Ask for the room’s link again.'],
  NEEDS_HTTPS: ['This room needs https',
    'It is end-to-end encrypted, and browsers only offer the cryptography it needs on secure pages: open the link with https:// (or on this computer, localhost).'],
  UNSUPPORTED: ['This browser cannot open encrypted rooms',
    'It lacks the Ed25519 signatures of WebCrypto that prove the room’s key: update it (Chrome 137, Firefox 129, Safari 17 or later).'],
};

const zoom = setUpZoom($('#zoom'));
// Sends only once joined: a typing before the join would earn a NOT_JOINED error (and a rejoin).
const typing = new Typing($('#typing-line'), (frame) => session.joined && connection.send(frame));
const timeline = new Timeline($('#timeline'), $('#jump-latest'), {
  onReply: (message) => composer.startReply(message, state.isOwn(message) ? 'yourself' : String(message.sender)),
  onZoom: zoom,
  onQuoteMissing: () => toast('The original message is no longer in the loaded history.'),
  onRetry: (clientId) => outbox.retry(clientId),
  onDiscard: (clientId) => outbox.discard(clientId),
  onMenu: openMessageMenu,
  onToggleReaction: (message, emoji) => react(message, emoji),
  isMine: (key) => state.isMine(key),
  isDeleted: (messageId) => Boolean(state.messages.get(messageId)?.deleted),
});
const connection = new Connection(defaultSocketURL(), {
  onOpen: () => session.opened(),
  onFrame: receive,
  onStatus: showStatus,
  onEnded: removedFromRoom,
});
const session = new Session(state, connection);
const outbox = new Outbox(state, connection, timeline);
const composer = new Composer((message) => {
  outbox.add(message);
  typing.sent();
  return true;
}, () => state.limits, {
  onEdit: ({ messageId, text }) => (room
    ? sendRequest('edit', { messageId }, (e2e) => e2e.sealEdit(state.messages.get(messageId) ?? {}, text))
    : sendRequest('edit', { messageId, text })),
  lastOwn,
});
const menu = new PopupMenu($('#popup-menu'));
const reactionPicker = new ReactionPicker($('#react-panel'));
const notifier = new Notifier($('#notify-button'));
composer.input.addEventListener('input', () => {
  // Changing a message already sent is not news to the room.
  if (composer.input.value.trim() && !composer.editing) typing.typed();
});
const statusLine = new StatusLine(ui.status, ui.retryNow, connection);

/** The encrypted room's RoomCrypto (e2e.js), or null in a plain room. */
let room = null;

function setRoom(e2e) {
  room = e2e;
  session.keys = e2e?.keys ?? null;
  outbox.seal = e2e ? (sessionId, entry) => e2e.sealChat(sessionId, entry) : null;
  show(ui.e2eState, Boolean(e2e));
}

/** The encrypted room's keys, derived from its secret (the page's own sessions tell edits' authors). */
function roomCrypto(roomId, secret) {
  return RoomCrypto.forRoom(roomId, secret, () => state.limits, (id) => state.messages.get(id)?.sessionId);
}

// ---------------------------------------------------------------------------------------------
// Screens

/** The link in the address bar: { roomId, secret } (see crypto.js parseFragment), or null. */
function linkFromHash() {
  let raw = location.hash.slice(1);
  try {
    raw = decodeURIComponent(raw);
  } catch {
    return null; // a malformed %-escape is no room code
  }
  return parseFragment(raw, ROOM_CODE_PATTERN);
}

/** What the room-code field shows for a link: the code, and the key when it has one. */
function codeOf(link) {
  return link ? (link.secret === null ? link.roomId : `${link.roomId}.${link.secret}`) : '';
}

/** The fragment that names this room: with its key when it is encrypted (browsers never send it). */
function roomFragment() {
  return state.secret ? `${state.roomId}.${state.secret}` : state.roomId;
}

function roomLink() {
  return `${location.origin}${location.pathname}#${roomFragment()}`;
}

function showJoinScreen({ code = codeOf(linkFromHash()), error = '' } = {}) {
  show(ui.chatScreen, false);
  show(ui.joinScreen, true);
  show(ui.problemCard, false);
  show(ui.joinCard, true);
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
  // The address bar carries the room (and its key), so copying the URL shares it.
  if (location.hash.slice(1) !== roomFragment()) history.replaceState(null, '', `#${roomFragment()}`);
  updateTitle();
  composer.focus();
}

/** A screen instead of the join form: a link that cannot open its room, and why (see PROBLEMS). */
function showProblem(problem) {
  const [title, body] = PROBLEMS[problem];
  show(ui.chatScreen, false);
  show(ui.joinScreen, true);
  show(ui.joinCard, false);
  show(ui.problemCard, true);
  ui.problemCard.dataset.problem = problem;
  ui.problemTitle.textContent = title;
  ui.problemBody.textContent = body;
  document.title = `${title} · Echo`;
  ui.problemTitle.focus();
}

/** The join screen for a link opened in this tab, or why it cannot open its room. */
function showLink(link) {
  if (link?.secret === '') showProblem('KEY_REQUIRED');
  else if (link?.secret && !encryptionAvailable()) showProblem('NEEDS_HTTPS');
  else showJoinScreen({ code: codeOf(link) });
}

$('#problem-back').addEventListener('click', () => {
  history.replaceState(null, '', location.pathname);
  showJoinScreen({ code: '' });
});

/**
 * Encrypted rooms need WebCrypto, which browsers offer only in a secure context (https,
 * localhost), with Ed25519 (recent browsers): without, the switch is off and says why.
 */
function showEncryptionChoice() {
  const unavailable = (why) => {
    ui.encrypt.checked = false;
    ui.encrypt.disabled = true;
    ui.encryptHint.textContent = why;
  };
  if (!encryptionAvailable()) {
    unavailable('Encrypted rooms need https: this page was opened over plain http. Plain rooms still work.');
    return;
  }
  ui.encryptHint.textContent = 'Only people with the link can read the room; the server cannot. Turn off to make a room Echo Chat apps can join.';
  encryptionSupport().then((support) => {
    if (support === 'unsupported') unavailable('This browser cannot make encrypted rooms (its WebCrypto lacks Ed25519): update it. Plain rooms still work.');
  });
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
  document.title = state.unread ? `(${state.unread}) ${base}` : base;
}

/** The owner's button and the lock badge follow what the server said about the room. */
function showRoomState() {
  show(ui.lockState, state.locked);
  show(ui.ownerButton, Boolean(state.ownerKey));
}

function setMembers(count) {
  if (Number.isInteger(count) && count >= 0) ui.members.textContent = `${count} online`;
}

function showStatus(status) {
  statusLine.show(status);
  if (status !== 'connected') {
    session.lost();
    outbox.pause();
    typing.clear();
  }
  if (!ui.joinScreen.hidden && state.roomId && (status === 'reconnecting' || status === 'disconnected')) {
    setJoinError('Cannot reach the Echo server. Retrying…');
  }
}

// ---------------------------------------------------------------------------------------------
// Joining and leaving

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const action = event.submitter?.dataset.action ?? (ui.roomCode.value.trim() ? 'join' : 'create');
  const username = ui.username.value.trim();
  if (!USERNAME_PATTERN.test(username)) {
    setJoinError(username ? errorText('INVALID_USERNAME', {}, state.limits) : 'Enter your name first.');
    ui.username.focus();
    return;
  }
  let link;
  if (action === 'create') {
    link = { roomId: newRoomCode(), secret: ui.encrypt.checked && encryptionAvailable() ? newSecret() : null };
  } else {
    // Accept a pasted link as well as a bare code (with its key after a dot).
    const raw = ui.roomCode.value.trim();
    const fragment = raw.includes('#') ? raw.slice(raw.lastIndexOf('#') + 1) : raw;
    link = parseFragment(fragment, ROOM_CODE_PATTERN);
    if (!link) {
      setJoinError(fragment ? errorText('INVALID_ROOM_ID', {}, state.limits) : 'Enter a room code, or create a new room.');
      ui.roomCode.focus();
      return;
    }
    if (link.secret === '') return showProblem('KEY_REQUIRED');
    if (link.secret && !encryptionAvailable()) return showProblem('NEEDS_HTTPS');
  }
  prefs.set('echo.name', username);
  setJoinError('');
  setJoinBusy(true);
  timeline.clear();
  enterRoom(link, username, action);
});

async function enterRoom({ roomId, secret }, username, action) {
  let e2e = null;
  if (secret) {
    try {
      e2e = await roomCrypto(roomId, secret);
    } catch {
      showProblem('UNSUPPORTED'); // a valid secret fails only where WebCrypto lacks Ed25519
      return;
    }
  }
  setRoom(e2e);
  state.secret = secret;
  session.start(roomId, username, action);
}

/** Back to the join screen, the room left behind (`error` says why, when it was not the user's choice). */
function leaveRoom({ announce = true, error = '', code = '', problem = null } = {}) {
  session.leave({ announce });
  setRoom(null);
  typing.clear();
  composer.reset();
  menu.close(false);
  reactionPicker.close(false);
  timeline.clear();
  showRoomState();
  history.replaceState(null, '', location.pathname);
  if (problem) showProblem(problem);
  else showJoinScreen({ code, error });
}

$('#leave-button').addEventListener('click', () => leaveRoom());

/** The server closed with 4001: the owner removed us. Coming back on our own would be wrong. */
function removedFromRoom() {
  leaveRoom({ announce: false, error: 'You were removed from the room by its owner.' });
}

window.addEventListener('hashchange', () => {
  const link = linkFromHash();
  if (!link || (state.roomId && codeOf(link) === roomFragment())) return;
  if (state.roomId) $('#leave-button').click(); // another room's link opened in this tab: offer to join it
  showLink(link);
});

// ---------------------------------------------------------------------------------------------
// Frames from the server

/** Frames of an encrypted room waiting to be opened, or null: each is handled after the one before. */
let inbound = null;

function receive(frame) {
  if (!inbound && !(room && RoomCrypto.needsOpening(frame))) {
    handleFrame(frame);
    return;
  }
  const e2e = room;
  const next = (inbound ?? Promise.resolve())
    .then(() => (e2e && RoomCrypto.needsOpening(frame) ? e2e.openFrame(frame) : frame))
    // A frame of a room left meanwhile is not this room's any more.
    .then((opened) => (room === e2e ? handleFrame(opened) : undefined))
    .catch((error) => console.error('frame not handled', error));
  inbound = next;
  next.finally(() => {
    if (inbound === next) inbound = null;
  });
}

function handleFrame(frame) {
  switch (frame.type) {
    case 'challenge': return session.acceptChallenge(frame);
    case 'session': return onSession(frame);
    case 'history': return onHistory(frame);
    case 'error': return onError(frame);
    case 'pong': return undefined;
    case 'chat': return onChat(frame);
    case 'typing': return onTyping(frame);
    case 'edit': return onEdit(frame);
    case 'delete': return onDelete(frame);
    case 'react': return onReact(frame);
    case 'lock': return onLock(frame);
    default:
      if (frame.sender === 'System') return onSystem(frame);
      if ('text' in frame || 'image' in frame) return onChat(frame);
      return undefined;
  }
}

function onSession(frame) {
  const ours = session.acceptSession(frame);
  composer.limitsChanged();
  if (!ours) return;
  if (room && frame.encrypted !== true) {
    // A server without end-to-end encryption ignored the proof: nothing written here would be sealed.
    leaveRoom({ announce: true, error: 'This server does not offer end-to-end encrypted rooms: create a plain room instead.' });
    return;
  }
  setJoinBusy(false);
  showRoomState();
  if (ui.chatScreen.hidden) showChatScreen();
}

function onHistory(frame) {
  const { fresh, lost, messages, greeting } = session.acceptHistory(frame);
  if (fresh) {
    timeline.clear();
    outbox.show();
  } else if (lost) {
    timeline.addNotice('Some messages sent while you were away could not be recovered: the room’s history no longer reaches back that far.');
  }
  // A message listed here carries its reactions folded by the server, its react entries included.
  const listed = new Set(messages.filter((m) => !ENTRY_TYPES.has(m.type)).map((m) => m.id ?? m.messageId));
  for (const message of messages) {
    if (message.type === 'edit') onEdit(message);
    else if (message.type === 'delete') onDelete(message);
    else if (message.type === 'react') onReact(message, { folded: listed.has(message.messageId) });
    else onChat(message, { fromHistory: true });
  }
  if (greeting) {
    timeline.addSystem(greeting === 'create' ? 'You created the room. Share the link to invite people.' : 'You joined the room.', Date.now());
  }
  timeline.scrollToEnd(true);
  outbox.flush();
}

/** The kinds a history lists beside chat messages (for a page granted `edit` and `react`). */
const ENTRY_TYPES = new Set(['edit', 'delete', 'react']);

function onChat(message, { fromHistory = false } = {}) {
  if (message.roomId && message.roomId !== state.roomId) return;
  const own = state.isOwn(message);
  if (!fromHistory) typing.stopped(String(message.sessionId ?? ''));
  if (!message.deleted) state.seen(message.sessionId, message.sender);
  const folded = 'reactions' in message;
  message.reactions = reactionsFrom(message.reactions);
  const { result, settled } = state.receive(message);
  if (settled) outbox.confirmed(message.clientId);
  if (result === 'duplicate') {
    // A resync's history is the room as it stands now: what it says of a known message wins.
    if (fromHistory) refresh(message, folded);
    return;
  }
  timeline.addMessage(message, { own });
  if (!own && !fromHistory && !message.deleted && document.hidden) {
    state.unread += 1;
    updateTitle();
    const sender = String(message.sender ?? 'Someone');
    notifier.notify({ title: `${sender} in Echo`, body: replyPreview(message) || 'New message', tag: `echo-${state.roomId}` });
  }
}

function refresh(message, folded) {
  const known = state.messages.get(message.id ?? message.messageId);
  if (!known) return;
  let changed = message.deleted ? applyDelete(known) : false;
  if (changed) timeline.markQuotesDeleted(known.id);
  if (!known.deleted && message.editedAt && (message.text !== known.text || !known.editedAt)) changed = applyEdit(known, message) || changed;
  if (!known.deleted && folded) {
    known.reactions = message.reactions;
    changed = true;
  }
  if (changed) timeline.updateMessage(known, { own: state.isOwn(known) });
}

function onEdit(entry) {
  if (!state.receiveEntry(entry)) return;
  const message = state.messages.get(entry.messageId);
  if (message && applyEdit(message, entry)) timeline.updateMessage(message, { own: state.isOwn(message) });
}

function onDelete(entry) {
  if (!state.receiveEntry(entry)) return;
  const message = state.messages.get(entry.messageId);
  if (message && applyDelete(message)) timeline.updateMessage(message, { own: state.isOwn(message) });
  timeline.markQuotesDeleted(entry.messageId);
  composer.forget(entry.messageId);
}

/** @param folded the message came in the same history, its reactions already counting this entry. */
function onReact(entry, { folded = false } = {}) {
  if (!state.receiveEntry(entry) || folded) return;
  const message = state.messages.get(entry.messageId);
  if (message && applyReaction(message, entry)) timeline.updateMessage(message, { own: state.isOwn(message) });
}

function onLock(frame) {
  if (typeof frame.locked !== 'boolean' || frame.locked === state.locked) return;
  state.locked = frame.locked;
  showRoomState();
  timeline.addSystem(frame.locked ? 'The room is locked: nobody new can join.' : 'The room is unlocked: anyone with the link can join.', frame.timestamp ?? Date.now());
}

function onTyping(frame) {
  // The server never sends our own; a previous session of ours (before a reconnect) is still us.
  if (!state.sessionIds.has(frame.sessionId)) typing.heard(frame);
}

/** Sessions the owner removed: their connection's leave that follows needs no line of its own. */
const removed = new Set();

function onSystem(event) {
  setMembers(event.usersCount);
  if (event.message === 'leave' || event.message === 'kick') {
    typing.stopped(String(event.sessionId ?? ''));
    state.gone(event.sessionId);
  } else if (event.message === 'join') {
    state.seen(event.sessionId, event.username);
  }
  if (event.message === 'kick') {
    removed.add(event.sessionId);
    clearTimeout(kicks.get(event.sessionId));
    kicks.delete(event.sessionId);
  } else if (event.message === 'leave' && removed.delete(event.sessionId)) {
    return;
  }
  // Our own join and leave (including a previous session's, after a reconnect) are noise to us.
  if (state.sessionIds.has(event.sessionId)) return;
  const name = String(event.username ?? 'Someone');
  const text = event.message === 'join' ? `${name} joined` : event.message === 'leave' ? `${name} left`
    : event.message === 'kick' ? `${name} was removed from the room` : `${name}: ${String(event.message ?? '')}`;
  timeline.addSystem(text, event.timestamp);
}

function onError(frame) {
  const code = String(frame.code ?? '');
  const text = errorText(code, frame, state.limits);
  const delay = retryDelay(frame);
  switch (session.handleError(code, delay)) {
    case 'refused':
      if (code === 'KEY_REQUIRED' || code === 'BAD_KEY_PROOF') {
        // Asking again cannot help: the link has to change.
        leaveRoom({ announce: false, problem: code });
        return;
      }
      if (code === 'ROOM_NOT_ENCRYPTED') {
        leaveRoom({ announce: false, error: text, code: state.roomId });
        return;
      }
      if (code === 'ROOM_LOCKED' && !ui.chatScreen.hidden) {
        // A reconnect into a room locked meanwhile (this browser was not let back in).
        leaveRoom({ announce: false, error: text, code: state.roomId });
        return;
      }
      if (!ui.chatScreen.hidden) break;
      // Inline on the join screen: the user can fix the code or name right there.
      session.leave({ announce: false });
      setRoom(null);
      showJoinScreen({ code: ui.roomCode.value, error: text });
      (code === 'INVALID_USERNAME' ? ui.username : ui.roomCode).focus();
      return;
    case 'deferred':
      // The join is asked again shortly; a message about it would only be noise in the chat.
      if (ui.chatScreen.hidden) setJoinError(code === 'RATE_LIMITED' ? 'Too many joins from your network. Trying again…' : 'The server is busy. Trying again…');
      return;
    default:
      break;
  }
  toast(text, { kind: 'error' });
  outbox.handleError(code, frame.clientId, delay);
}

// ---------------------------------------------------------------------------------------------
// Acting on messages: edit, delete, react; the owner's kick and lock

/** Sends an edit, delete, react, kick or lock; false (and says so) when not in the room right now. */
function sendRequest(type, payload, seal = null) {
  const notConnected = () => toast('Not connected right now: try again in a moment.', { kind: 'error' });
  if (!seal) {
    if (session.joined && connection.send({ type, payload })) return true;
    notConnected();
    return false;
  }
  // Encrypted room: `seal(room)` gives the payload's sealed fields.
  if (!session.joined || !connection.isOpen) {
    notConnected();
    return false;
  }
  const e2e = room;
  seal(e2e).then((sealed) => {
    if (room === e2e && !(session.joined && connection.send({ type, payload: { ...payload, ...sealed } }))) notConnected();
  }, () => toast('That could not be encrypted.', { kind: 'error' }));
  return true;
}

/** Turns one's reaction on or off; an encrypted room's server sees only the emoji's token. */
function react(message, emoji) {
  return room
    ? sendRequest('react', { messageId: message.id }, (e2e) => e2e.sealReaction(message.id, emoji).then((token) => ({ emoji: token })))
    : sendRequest('react', { messageId: message.id, emoji });
}

/** The message Up edits: one's newest that is still there. */
function lastOwn() {
  const messages = [...state.messages.values()];
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (state.isOwn(message) && !message.deleted && !message.undecryptable && message.id) return message;
  }
  return null;
}

function openMessageMenu(message, button, { own, sender }) {
  const items = [{ label: 'Add reaction…', onSelect: () => reactionPicker.open(button, (emoji) => react(message, emoji)) }];
  if (own) {
    items.push({ label: 'Edit', onSelect: () => composer.startEdit(message) });
    items.push({ label: 'Delete', danger: true, onSelect: () => deleteMessage(message) });
  } else if (state.ownerKey && message.sessionId) {
    items.push({ label: `Remove ${sender} from the room`, danger: true, onSelect: () => kick(state.kickTarget(message), sender) });
  }
  menu.open(button, own ? 'Your message' : `${sender}’s message`, items);
}

async function deleteMessage(message) {
  const yes = await confirmAction({ title: 'Delete this message?', body: 'It is removed for everyone in the room. This cannot be undone.', confirm: 'Delete' });
  if (yes && sendRequest('delete', { messageId: message.id })) composer.focus();
}

async function kick(sessionId, name) {
  const yes = await confirmAction({ title: `Remove ${name}?`, body: `${name} is disconnected from the room. While the room is locked, they cannot come back.`, confirm: 'Remove' });
  if (!yes || !sendRequest('kick', { sessionId, ownerKey: state.ownerKey })) return;
  // The server answers a kick of someone already gone with nothing at all: say so after a while.
  clearTimeout(kicks.get(sessionId));
  kicks.set(sessionId, setTimeout(() => {
    kicks.delete(sessionId);
    toast(`${name} is not in the room any more (or has reconnected since: remove them from a newer message).`);
  }, KICK_ANSWER_MS));
}

/** How long a kick may take to come back as the room's System event before the page says it did nothing. */
const KICK_ANSWER_MS = 5000;
/** sessionId → timer of the kicks sent and not yet seen done. */
const kicks = new Map();

ui.ownerButton.addEventListener('click', () => {
  menu.open(ui.ownerButton, 'Room owner', [state.locked
    ? { label: 'Unlock room', onSelect: () => sendRequest('lock', { locked: false, ownerKey: state.ownerKey }) }
    : { label: 'Lock room', onSelect: () => sendRequest('lock', { locked: true, ownerKey: state.ownerKey }) }]);
});

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
// An encrypted room's code alone opens nothing: the code is copied with its key.
$('#copy-code').addEventListener('click', () => copy(roomFragment(), 'Room code'));
$('#copy-link').addEventListener('click', () => copy(roomLink(), 'Room link'));

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.unread) {
    state.unread = 0;
    updateTitle();
  }
});

document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.defaultPrevented || ui.chatScreen.hidden) return;
  // An open <dialog> (the zoomed image, a confirmation) handles its own Escape.
  if (!document.querySelector('dialog[open]') && !menu.isOpen && !reactionPicker.isOpen) composer.escape();
});

// ---------------------------------------------------------------------------------------------
// Start: a refresh (or a restored tab) goes straight back into its room.

setUpThemeToggles();
showEncryptionChoice();
const linked = linkFromHash();
if (state.restore() && (!linked || linked.roomId === state.roomId)) {
  // The restored room's key: the link's, else the one this tab kept.
  if (linked?.secret) state.secret = linked.secret;
  if (state.secret && !encryptionAvailable()) {
    state.leave();
    showProblem('NEEDS_HTTPS');
  } else {
    showRoomState();
    showChatScreen();
    outbox.show();
    (state.secret ? roomCrypto(state.roomId, state.secret) : Promise.resolve(null)).then((e2e) => {
      setRoom(e2e);
      session.resume();
    }, () => {
      state.leave();
      showProblem('UNSUPPORTED');
    });
  }
} else {
  state.leave();
  showLink(linked);
}
