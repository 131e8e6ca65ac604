// The timeline: turns messages into DOM. Text is only ever set through textContent (see dom.js);
// links are built as elements from http(s) URLs only.

import { el } from './dom.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
const IMAGE_DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const MAX_BIG_EMOJI = 8;

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
   * @param handlers { onReply(message), onZoom(src, alt), onQuoteMissing(), onRetry(clientId), onDiscard(clientId) }
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
    const date = toDate(message.timestamp);
    this.#daySeparator(date);
    const sender = String(message.sender ?? 'Unknown');
    const key = `${own ? 'own' : 'other'}:${sender}`;
    let group = this.#lastGroup;
    if (!group || group.key !== key || date - group.lastAt > GROUP_GAP_MS) {
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
    const text = typeof message.text === 'string' ? message.text : '';
    const id = message.id ?? message.messageId;
    const bubble = el('div', { class: 'bubble', tabindex: '-1', id: id ? `m-${id}` : null, dataset: id ? { id } : {} });
    // Each bubble names its sender for screen readers: the visible group header is shared.
    bubble.append(el('span', { class: 'sr-only', text: `${own ? 'You' : sender}, ${timeFormat.format(date)}: ` }));

    if (message.replyTo && typeof message.replyTo === 'object') bubble.append(this.#quote(message.replyTo));

    if (message.image) {
      if (isSafeImage(message.image)) {
        const alt = `Image from ${own ? 'you' : sender}`;
        const img = el('img', { src: message.image, alt, loading: 'lazy', decoding: 'async' });
        bubble.append(el('button', { type: 'button', class: 'thumb', 'aria-label': `Enlarge image from ${own ? 'you' : sender}`,
          onclick: () => this.handlers.onZoom?.(message.image, alt) }, img));
      } else {
        bubble.append(el('p', { class: 'text muted', text: '[image not shown: unsupported format]' }));
      }
    }

    if (text) {
      const big = isEmojiOnly(text);
      bubble.append(el('p', { class: big ? 'text emoji-only' : 'text' }, big ? text : linkify(text)));
    }

    if (pending) {
      bubble.classList.add('pending');
      bubble.append(el('div', { class: 'pending-line' },
        el('span', { class: 'pending-status', role: 'status' }),
        el('span', { class: 'pending-actions', hidden: true },
          el('button', { type: 'button', class: 'link-button', text: 'Retry', onclick: () => this.handlers.onRetry?.(pending.clientId) }),
          el('button', { type: 'button', class: 'link-button', text: 'Discard', onclick: () => this.handlers.onDiscard?.(pending.clientId) }))));
    } else {
      bubble.append(el('div', { class: 'bubble-tools' },
        el('button', { type: 'button', class: 'reply-button', 'aria-label': `Reply to ${own ? 'your message' : sender}`,
          title: 'Reply', text: '↩', onclick: () => this.handlers.onReply?.({ ...message, id }) })));
    }
    return bubble;
  }

  #quote(replyTo) {
    const who = String(replyTo.sender ?? '');
    const preview = replyTo.isImage && !replyTo.preview ? 'Image' : String(replyTo.preview ?? '');
    return el('button', {
      type: 'button', class: 'quote', 'aria-label': `Reply to ${who}: ${preview}. Show original message`,
      onclick: () => {
        if (!this.scrollToMessage(replyTo.messageId)) this.handlers.onQuoteMissing?.();
      },
    }, el('span', { class: 'quote-author', text: who }), el('span', { class: 'quote-text', text: preview }));
  }
}
