// The timeline: turns messages into DOM. Text is only ever set through textContent (see dom.js);
// links are built as elements from http(s) URLs only.

import { el } from './dom.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
const IMAGE_DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const MAX_BIG_EMOJI = 8;
/** What a message of an encrypted room that did not open shows (e2e.js marks it), and nothing else. */
export const UNDECRYPTABLE_TEXT = 'message could not be decrypted';

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const graphemes = typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;

/** Server timestamps may be ms numbers, second numbers or ISO strings. */
export function toDate(timestamp) {
  if (typeof timestamp === 'number') return new Date(timestamp < 1e12 ? timestamp * 1000 : timestamp);
  const numeric = Number(timestamp);
  if (timestamp != null && timestamp !== '' && Number.isFinite(numeric)) return toDate(numeric);
  const parsed = Date.parse(timestamp);
  return new Date(Number.isNaN(parsed) ? Date.now() : parsed);
}

/** When a message was sent: its timestamp, else the time in its stream ID (a tombstone has only that). */
export function messageDate(message) {
  const id = String(message.id ?? message.messageId ?? '');
  return toDate(message.timestamp ?? (/^\d+-\d+$/.test(id) ? Number(id.split('-')[0]) : undefined));
}

function timeElement(date, className = 'time') {
  return el('time', { class: className, datetime: date.toISOString(), title: fullFormat.format(date), text: timeFormat.format(date) });
}

/** True for 1–8 emoji and nothing else (whitespace aside): such a message is shown large. */
export function isEmojiOnly(text) {
  if (!text || text.length > 64 || !graphemes) return false;
  let count = 0;
  for (const { segment } of graphemes.segment(text.trim())) {
    if (/^\s+$/u.test(segment)) continue;
    const emoji = /\p{Extended_Pictographic}/u.test(segment) || /^\p{Regional_Indicator}{2}$/u.test(segment) || segment.includes('\u20e3');
    if (!emoji || /[\p{L}]/u.test(segment.replace(/\p{Extended_Pictographic}|[\u{E0020}-\u{E007F}]/gu, ''))) return false;
    if (++count > MAX_BIG_EMOJI) return false;
  }
  return count > 0;
}

/** Text with its http(s) URLs as links; everything else stays plain text nodes. */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    // Sentence punctuation right after a URL is almost never part of it.
    const candidate = match[0].replace(/[.,;:!?)\]}]+$/, '');
    let url;
    try {
      url = new URL(candidate);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(el('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', text: candidate }));
    last = match.index + candidate.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export function isSafeImage(src) {
  return typeof src === 'string' && IMAGE_DATA_URL.test(src);
}

/** The preview a reply carries: the first 100 characters, or "Image". */
export function replyPreview(message) {
  if (message.undecryptable) return '';
  const text = (message.text ?? '').trim();
  return text ? text.slice(0, 100) : (message.image ? 'Image' : '');
}

export class Timeline {
  #root;
  #list;
  #pendingList;
  #lastGroup = null;
  #lastDay = null;
  #jump;

  /**
   * @param root the scrolling role=log element
   * @param handlers { onReply(message), onZoom(src, alt), onQuoteMissing(), onRetry(clientId), onDiscard(clientId),
   *                   onMenu(message, button, { own, sender }), onToggleReaction(message, emoji),
   *                   isMine(reactorKey), isDeleted(messageId) }
   */
  constructor(root, jumpButton, handlers) {
    this.#root = root;
    this.handlers = handlers;
    this.#list = el('div', { class: 'timeline-list' });
    this.#pendingList = el('div', { class: 'timeline-pending' });
    root.replaceChildren(this.#list, this.#pendingList);
    this.#jump = jumpButton;
    this.#jump.addEventListener('click', () => this.scrollToEnd(true));
    root.addEventListener('scroll', () => {
      if (this.#nearBottom()) this.#jump.hidden = true;
    });
  }

  clear() {
    this.#list.replaceChildren();
    this.#pendingList.replaceChildren();
    this.#lastGroup = null;
    this.#lastDay = null;
    this.#jump.hidden = true;
  }

  addMessage(message, { own = false } = {}) {
    const stick = this.#nearBottom() || own;
    const date = messageDate(message);
    this.#daySeparator(date);
    const sender = String(message.sender ?? 'Unknown');
    // A message deleted before this page saw it has no sender: it stands alone, without a header.
    const anonymous = message.deleted && message.sender == null;
    const key = anonymous ? null : `${own ? 'own' : 'other'}:${sender}`;
    let group = this.#lastGroup;
    if (anonymous) {
      const body = el('div', { class: 'group-body' });
      this.#list.append(el('div', { class: 'group other anonymous' }, body));
      group = this.#lastGroup = { key, body, lastAt: date };
    } else if (!group || group.key !== key || date - group.lastAt > GROUP_GAP_MS) {
      const body = el('div', { class: 'group-body' });
      const node = el('div', { class: `group ${own ? 'own' : 'other'}` },
        el('div', { class: 'group-head', 'aria-hidden': 'true' },
          el('span', { class: 'author', text: own ? 'You' : sender }), timeElement(date)),
        body);
      this.#list.append(node);
      group = this.#lastGroup = { key, node, body, lastAt: date };
    }
    group.lastAt = date;
    const bubble = this.#bubble(message, { own, date, sender });
    group.body.append(bubble);
    this.#afterAppend(stick, own);
    return bubble;
  }

  addSystem(text, timestamp) {
    const stick = this.#nearBottom();
    const date = toDate(timestamp);
    this.#daySeparator(date);
    this.#list.append(el('div', { class: 'system-line' }, el('span', { text }), ' ', timeElement(date, 'time system-time')));
    this.#lastGroup = null;
    this.#afterAppend(stick, false);
  }

  /** A notice about the timeline itself (e.g. history that could not be recovered). */
  addNotice(text) {
    const stick = this.#nearBottom();
    this.#list.append(el('div', { class: 'notice', role: 'note', text }));
    this.#lastGroup = null;
    this.#afterAppend(stick, false);
  }

  /** A message typed here that the server has not confirmed yet; it sits below every confirmed one. */
  addPending(entry) {
    const bubble = this.#bubble({ ...entry, sender: 'You', id: null, timestamp: entry.createdAt },
      { own: true, date: new Date(entry.createdAt), sender: 'You', pending: entry });
    bubble.dataset.clientId = entry.clientId;
    this.#pendingList.append(el('div', { class: 'group own pending-group' }, el('div', { class: 'group-body' }, bubble)));
    this.setPendingStatus(entry.clientId, entry.status);
    this.scrollToEnd(true);
  }

  setPendingStatus(clientId, status) {
    const bubble = this.#pendingBubble(clientId);
    if (!bubble) return;
    bubble.dataset.status = status;
    const label = {
      waiting: 'Waiting for connection…',
      sending: 'Sending…',
      retrying: 'Server busy, retrying…',
      'rate-limited': 'Sending too fast, retrying…',
      failed: 'Not sent',
    }[status] ?? 'Sending…';
    bubble.querySelector('.pending-status').textContent = label;
    bubble.querySelector('.pending-actions').hidden = status !== 'failed';
  }

  removePending(clientId) {
    this.#pendingBubble(clientId)?.closest('.pending-group')?.remove();
  }

  /** Scrolls to a message and highlights it; false when it is not in the loaded timeline. */
  scrollToMessage(id) {
    const target = document.getElementById(`m-${id}`);
    if (!target) return false;
    target.scrollIntoView({ block: 'center', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
    target.classList.remove('flash');
    void target.offsetWidth; // restart the highlight animation
    target.classList.add('flash');
    target.focus({ preventScroll: true });
    return true;
  }

  scrollToEnd(force = false) {
    if (force || this.#nearBottom()) this.#root.scrollTop = this.#root.scrollHeight;
    this.#jump.hidden = true;
  }

  #pendingBubble(clientId) {
    for (const node of this.#pendingList.querySelectorAll('.bubble')) {
      if (node.dataset.clientId === clientId) return node;
    }
    return null;
  }

  #nearBottom() {
    const root = this.#root;
    return root.scrollHeight - root.scrollTop - root.clientHeight < 80;
  }

  #afterAppend(stick, own) {
    if (stick || own) this.scrollToEnd(true);
    else this.#jump.hidden = false;
  }

  #daySeparator(date) {
    const day = date.toDateString();
    if (day === this.#lastDay) return;
    this.#lastDay = day;
    const today = new Date().toDateString();
    const label = day === today ? 'Today' : dayFormat.format(date);
    this.#list.append(el('div', { class: 'day-separator', role: 'separator', 'aria-label': label }, el('span', { text: label })));
    this.#lastGroup = null;
  }

  #bubble(message, { own, date, sender, pending = null }) {
    const id = message.id ?? message.messageId;
    const bubble = el('div', { class: 'bubble', tabindex: '-1', id: id ? `m-${id}` : null, dataset: id ? { id } : {} });
    this.#fill(bubble, message, { own, date, sender, pending });
    return bubble;
  }

  /** Redraws a shown message after an edit, a delete or a reaction; false when it is not shown. */
  updateMessage(message, { own = false } = {}) {
    const id = message.id ?? message.messageId;
    const bubble = id ? this.#list.querySelector(`#${CSS.escape(`m-${id}`)}`) : null;
    if (!bubble) return false;
    const active = bubble.contains(document.activeElement) ? document.activeElement : null;
    const place = active?.dataset.emoji ? `.reaction[data-emoji="${CSS.escape(active.dataset.emoji)}"]`
      : active?.classList[0] ? `.${active.classList[0]}` : null;
    const sender = String(message.sender ?? bubble.dataset.sender ?? 'Unknown');
    const timestamp = message.timestamp ?? (bubble.dataset.timestamp ? Number(bubble.dataset.timestamp) : undefined);
    this.#fill(bubble, message, { own, date: messageDate({ ...message, timestamp }), sender });
    // A redraw must not drop the keyboard user's place (e.g. on the reaction they just toggled).
    if (active) ((place && bubble.querySelector(place)) ?? bubble).focus({ preventScroll: true });
    return true;
  }

  /** Replies quoting a message that was deleted say so. */
  markQuotesDeleted(messageId) {
    for (const quote of this.#list.querySelectorAll('.quote')) {
      if (quote.dataset.quoteId !== messageId) continue;
      quote.querySelector('.quote-text').textContent = 'deleted';
      quote.classList.add('quote-deleted');
      quote.setAttribute('aria-label', `Reply to ${quote.querySelector('.quote-author').textContent}: deleted message`);
    }
  }

  #fill(bubble, message, { own, date, sender, pending = null }) {
    const text = typeof message.text === 'string' ? message.text : '';
    const id = message.id ?? message.messageId;
    bubble.dataset.sender = sender;
    if (message.timestamp != null) bubble.dataset.timestamp = String(message.timestamp);
    bubble.classList.toggle('deleted', Boolean(message.deleted));
    // Each bubble names its sender for screen readers: the visible group header is shared.
    const children = [el('span', { class: 'sr-only', text: `${own ? 'You' : sender}, ${timeFormat.format(date)}: ` })];

    if (message.deleted) {
      const what = own ? 'You deleted this message' : message.sender ? 'This message was deleted' : 'Message deleted';
      children.push(el('p', { class: 'text muted deleted-text', text: what }));
      bubble.replaceChildren(...children);
      return;
    }
    if (message.undecryptable) {
      children.push(el('p', { class: 'text muted undecryptable', text: UNDECRYPTABLE_TEXT }));
      bubble.replaceChildren(...children);
      return;
    }

    if (message.replyTo && typeof message.replyTo === 'object') children.push(this.#quote(message.replyTo));

    if (message.image) {
      if (isSafeImage(message.image)) {
        const alt = `Image from ${own ? 'you' : sender}`;
        const img = el('img', { src: message.image, alt, loading: 'lazy', decoding: 'async' });
        children.push(el('button', { type: 'button', class: 'thumb', 'aria-label': `Enlarge image from ${own ? 'you' : sender}`,
          onclick: () => this.handlers.onZoom?.(message.image, alt) }, img));
      } else {
        children.push(el('p', { class: 'text muted', text: '[image not shown: unsupported format]' }));
      }
    }

    if (text) {
      const big = isEmojiOnly(text);
      children.push(el('p', { class: big ? 'text emoji-only' : 'text' }, big ? text : linkify(text)));
    }
    if (message.editedAt) {
      const at = toDate(message.editedAt);
      children.push(el('span', { class: 'edited', title: `Edited ${fullFormat.format(at)}`, text: '(edited)' }));
    }
    if (message.reactions instanceof Map && message.reactions.size) children.push(this.#reactions(message));

    if (pending) {
      bubble.classList.add('pending');
      children.push(el('div', { class: 'pending-line' },
        el('span', { class: 'pending-status', role: 'status' }),
        el('span', { class: 'pending-actions', hidden: true },
          el('button', { type: 'button', class: 'link-button', text: 'Retry', onclick: () => this.handlers.onRetry?.(pending.clientId) }),
          el('button', { type: 'button', class: 'link-button', text: 'Discard', onclick: () => this.handlers.onDiscard?.(pending.clientId) }))));
    } else {
      const whose = own ? 'your message' : `${sender}’s message`;
      children.push(el('div', { class: 'bubble-tools' },
        el('button', { type: 'button', class: 'reply-button', 'aria-label': `Reply to ${own ? 'your message' : sender}`,
          title: 'Reply', text: '↩', onclick: () => this.handlers.onReply?.({ ...message, id }) }),
        el('button', { type: 'button', class: 'more-button', 'aria-label': `Actions for ${whose}`, title: 'More',
          'aria-haspopup': 'menu', 'aria-expanded': 'false', text: '⋯',
          onclick: (event) => this.handlers.onMenu?.(message, event.currentTarget, { own, sender }) })));
    }
    bubble.replaceChildren(...children);
  }

  #reactions(message) {
    const chips = [];
    for (const [emoji, who] of message.reactions) {
      const names = [...who.values()];
      const mine = [...who.keys()].some((key) => this.handlers.isMine?.(key));
      const list = names.join(', ');
      let pressTimer = null;
      let longPressed = false;
      const chip = el('button', {
        type: 'button', class: 'reaction', 'aria-pressed': String(mine), dataset: { emoji, who: list },
        'aria-label': `${emoji} ${names.length}: ${list}. ${mine ? 'Remove your reaction' : `React with ${emoji}`}`,
        onclick: () => {
          if (longPressed) {
            longPressed = false;
            return;
          }
          this.handlers.onToggleReaction?.(message, emoji);
        },
        // A long press shows who reacted (touch has no hover); it does not toggle.
        onpointerdown: (event) => {
          if (event.pointerType !== 'touch') return;
          pressTimer = setTimeout(() => {
            longPressed = true;
            chip.classList.add('show-who');
            setTimeout(() => chip.classList.remove('show-who'), 2500);
          }, 500);
        },
        onpointerup: () => clearTimeout(pressTimer),
        onpointercancel: () => clearTimeout(pressTimer),
        oncontextmenu: (event) => event.pointerType === 'touch' && event.preventDefault(),
      }, el('span', { class: 'reaction-emoji', 'aria-hidden': 'true', text: emoji }), el('span', { class: 'reaction-count', 'aria-hidden': 'true', text: String(names.length) }));
      chips.push(chip);
    }
    return el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' }, chips);
  }

  #quote(replyTo) {
    const who = String(replyTo.sender ?? '');
    const deleted = replyTo.deleted === true || this.handlers.isDeleted?.(replyTo.messageId);
    const preview = deleted ? 'deleted' : replyTo.isImage && !replyTo.preview ? 'Image' : String(replyTo.preview ?? '');
    return el('button', {
      type: 'button', class: deleted ? 'quote quote-deleted' : 'quote', dataset: { quoteId: String(replyTo.messageId ?? '') },
      'aria-label': deleted ? `Reply to ${who}: deleted message` : `Reply to ${who}: ${preview}. Show original message`,
      onclick: () => {
        if (!this.scrollToMessage(replyTo.messageId)) this.handlers.onQuoteMissing?.();
      },
    }, el('span', { class: 'quote-author', text: who }), el('span', { class: 'quote-text', text: preview }));
  }
}
