// The page's wiring: the two screens, the connection status, and the frames from the server routed
// to the module that owns them (session.js: joining and resuming; outbox.js: sending; render.js:
// the timeline; state.js: what edits, deletes and reactions do to a message). Everything the page
// knows is in one PageState (state.js).

import { Composer } from './composer.js';
import { confirmAction } from './confirm.js';
import { Connection, defaultSocketURL } from './connection.js';
import { $, show } from './dom.js';
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
  onToggleReaction: (message, emoji) => sendRequest('react', { messageId: message.id, emoji }),
  isMine: (key) => state.isMine(key),
  isDeleted: (messageId) => Boolean(state.messages.get(messageId)?.deleted),
});
const connection = new Connection(defaultSocketURL(), {
  onOpen: () => session.opened(),
  onFrame: handleFrame,
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
  onEdit: ({ messageId, text }) => sendRequest('edit', { messageId, text }),
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
  let roomId;
  if (action === 'create') {
    roomId = newRoomCode();
  } else {
    // Accept a pasted link as well as a bare code.
    const raw = ui.roomCode.value.trim();
    roomId = raw.includes('#') ? raw.slice(raw.lastIndexOf('#') + 1) : raw;
    if (!ROOM_CODE_PATTERN.test(roomId)) {
      setJoinError(roomId ? errorText('INVALID_ROOM_ID', {}, state.limits) : 'Enter a room code, or create a new room.');
      ui.roomCode.focus();
      return;
    }
  }
  prefs.set('echo.name', username);
  setJoinError('');
  setJoinBusy(true);
  timeline.clear();
  session.start(roomId, username, action);
});

/** Back to the join screen, the room left behind (`error` says why, when it was not the user's choice). */
function leaveRoom({ announce = true, error = '', code = '' } = {}) {
  session.leave({ announce });
  typing.clear();
  composer.reset();
  menu.close(false);
  reactionPicker.close(false);
  timeline.clear();
  showRoomState();
  history.replaceState(null, '', location.pathname);
  showJoinScreen({ code, error });
}

$('#leave-button').addEventListener('click', () => leaveRoom());

/** The server closed with 4001: the owner removed us. Coming back on our own would be wrong. */
function removedFromRoom() {
  leaveRoom({ announce: false, error: 'You were removed from the room by its owner.' });
}

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
      if (code === 'ROOM_LOCKED' && !ui.chatScreen.hidden) {
        // A reconnect into a room locked meanwhile (this browser was not let back in).
        leaveRoom({ announce: false, error: text, code: state.roomId });
        return;
      }
      if (!ui.chatScreen.hidden) break;
      // Inline on the join screen: the user can fix the code or name right there.
      session.leave({ announce: false });
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
function sendRequest(type, payload) {
  if (session.joined && connection.send({ type, payload })) return true;
  toast('Not connected right now: try again in a moment.', { kind: 'error' });
  return false;
}

/** The message Up edits: one's newest that is still there. */
function lastOwn() {
  const messages = [...state.messages.values()];
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (state.isOwn(message) && !message.deleted && message.id) return message;
  }
  return null;
}

function openMessageMenu(message, button, { own, sender }) {
  const items = [{ label: 'Add reaction…', onSelect: () => reactionPicker.open(button, (emoji) => sendRequest('react', { messageId: message.id, emoji })) }];
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
$('#copy-code').addEventListener('click', () => copy(state.roomId, 'Room code'));
$('#copy-link').addEventListener('click', () => copy(roomLink(state.roomId), 'Room link'));

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
const linked = roomFromHash();
if (state.restore() && (!linked || linked === state.roomId)) {
  showRoomState();
  showChatScreen();
  outbox.show();
  session.resume();
} else {
  state.leave();
  showJoinScreen({ code: linked });
}
