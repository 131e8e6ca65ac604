// The emoji picker: categories, search and recently used, from web/emoji-data.json (generated from
// Unicode's emoji-test.txt by scripts/gen-emoji-data.py). The data is fetched the first time the
// picker opens, so the chat itself loads without it.

import { el, placeNear } from './dom.js';
import { prefs } from './storage.js';

const RECENT_KEY = 'echo.recentEmoji';
const RECENT_MAX = 24;
const SEARCH_MAX = 120;
const GROUP_ICONS = {
  'Smileys & Emotion': '😀', 'People & Body': '👋', 'Animals & Nature': '🐻', 'Food & Drink': '🍔',
  'Travel & Places': '🚗', Activities: '⚽', Objects: '💡', Symbols: '❤️', Flags: '🏁',
};

export class EmojiPicker {
  #panel;
  #toggle;
  #search;
  #tabs;
  #grid;
  #heading;
  #groups = [];
  #current = null;
  #data = null;

  /**
   * @param toggle the button that opens it, or null when it opens from several (see open()).
   * @param onPick called with the emoji string; the picker stays open for picking several.
   */
  constructor(panel, toggle, onPick) {
    this.#panel = panel;
    this.#toggle = toggle;
    this.onPick = onPick;
    this.#search = panel.querySelector('.emoji-search');
    this.#tabs = panel.querySelector('.emoji-tabs');
    this.#grid = panel.querySelector('.emoji-grid');
    this.#heading = panel.querySelector('.emoji-heading');

    toggle?.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    this.#search.addEventListener('input', () => this.#renderSearch());
    panel.addEventListener('keydown', (event) => this.#onKey(event));
    document.addEventListener('pointerdown', (event) => {
      if (this.isOpen && !panel.contains(event.target) && !this.#toggle?.contains(event.target)) this.close(false);
    });
  }

  #loadData() {
    this.#data ??= fetch(new URL('./emoji-data.json', import.meta.url))
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`emoji data: HTTP ${r.status}`))))
      .catch((error) => {
        this.#data = null; // let a later opening try again
        throw error;
      });
    return this.#data;
  }

  get isOpen() {
    return !this.#panel.hidden;
  }

  /** @param toggle the button it opens from (focus returns there); its own one by default. */
  async open(toggle = this.#toggle) {
    if (toggle !== this.#toggle) this.#toggle?.setAttribute('aria-expanded', 'false');
    this.#toggle = toggle;
    this.#panel.hidden = false;
    this.#toggle.setAttribute('aria-expanded', 'true');
    this.#search.value = '';
    this.#search.focus();
    if (!this.#groups.length) {
      this.#heading.textContent = 'Loading…';
      try {
        const data = await this.#loadData();
        this.#groups = data.groups;
      } catch {
        this.#heading.textContent = 'Emoji could not be loaded.';
        return;
      }
      this.#renderTabs();
    }
    // Someone who typed while the emoji loaded (first open) gets their search, not a group.
    if (this.#search.value.trim()) this.#renderSearch();
    else this.#show(this.#recent().length ? 'Recent' : this.#groups[0].name);
  }

  /** @param restoreFocus false when the user clicked elsewhere (focus goes where they clicked). */
  close(restoreFocus = true) {
    if (!this.isOpen) return;
    this.#panel.hidden = true;
    this.#toggle.setAttribute('aria-expanded', 'false');
    if (restoreFocus && this.#toggle.isConnected) this.#toggle.focus();
  }

  #recent() {
    const recent = prefs.get(RECENT_KEY, []);
    return Array.isArray(recent) ? recent.filter((e) => Array.isArray(e) && typeof e[0] === 'string') : [];
  }

  #remember(entry) {
    const recent = this.#recent().filter((e) => e[0] !== entry[0]);
    recent.unshift(entry);
    prefs.set(RECENT_KEY, recent.slice(0, RECENT_MAX));
  }

  #renderTabs() {
    const tabs = [['Recent', '🕘'], ...this.#groups.map((g) => [g.name, GROUP_ICONS[g.name] ?? g.emoji[0]?.[0] ?? '•'])];
    this.#tabs.replaceChildren(...tabs.map(([name, icon]) => el('button', {
      type: 'button', class: 'emoji-tab', 'aria-label': name, title: name, 'aria-pressed': 'false',
      dataset: { group: name }, text: icon, onclick: () => this.#show(name),
    })));
  }

  #show(name) {
    this.#current = name;
    this.#search.value = '';
    for (const tab of this.#tabs.children) tab.setAttribute('aria-pressed', String(tab.dataset.group === name));
    const entries = name === 'Recent' ? this.#recent() : (this.#groups.find((g) => g.name === name)?.emoji ?? []);
    this.#renderGrid(name, entries, name === 'Recent' ? 'No recently used emoji yet.' : 'Empty.');
  }

  #renderSearch() {
    if (!this.#groups.length) return; // still loading: open() renders the search once loaded
    const query = this.#search.value.trim().toLowerCase();
    if (!query) {
      this.#show(this.#current ?? this.#groups[0]?.name);
      return;
    }
    const words = query.split(/\s+/);
    const found = [];
    for (const group of this.#groups) {
      for (const entry of group.emoji) {
        if (words.every((w) => entry[1].includes(w))) found.push(entry);
        if (found.length >= SEARCH_MAX) break;
      }
    }
    for (const tab of this.#tabs.children) tab.setAttribute('aria-pressed', 'false');
    this.#renderGrid(`Results for “${query}”`, found, 'No emoji found.');
  }

  #renderGrid(title, entries, emptyText) {
    this.#heading.textContent = entries.length ? title : emptyText;
    this.#grid.replaceChildren(...entries.map((entry, i) => el('button', {
      type: 'button', class: 'emoji-option', 'aria-label': entry[1], title: entry[1],
      tabindex: i === 0 ? '0' : '-1', text: entry[0],
      onclick: () => {
        this.#remember(entry);
        this.onPick(entry[0]);
      },
    })));
  }

  // Arrow keys move through the grid (one tab stop for the whole grid); Escape closes.
  #onKey(event) {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.close();
      return;
    }
    const options = [...this.#grid.children];
    if (event.key === 'ArrowDown' && event.target === this.#search && options.length) {
      event.preventDefault();
      options[0].focus();
      return;
    }
    const index = options.indexOf(event.target);
    if (index < 0) return;
    const columns = Math.max(1, Math.round(this.#grid.clientWidth / (options[0].offsetWidth || 1)));
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -index, End: options.length - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = index + moves[event.key];
    if (next < 0 && event.key === 'ArrowUp') {
      this.#search.focus();
      return;
    }
    const target = options[Math.max(0, Math.min(options.length - 1, next))];
    options[index].tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }
}

/** The reactions offered first, before the whole picker. */
const QUICK_REACTIONS = [['👍', 'thumbs up'], ['❤️', 'red heart'], ['😂', 'face with tears of joy'],
  ['😮', 'face with open mouth'], ['😢', 'crying face'], ['🎉', 'party popper']];

/**
 * Picking one reaction for a message: a row of common ones, then the same picker as the composer's
 * (search, categories, recent), in a panel shared by every message and placed by the button that
 * opened it. A pick closes it.
 */
export class ReactionPicker {
  #panel;
  #picker;
  #onPick = null;

  constructor(panel) {
    this.#panel = panel;
    this.#picker = new EmojiPicker(panel, null, (emoji) => this.#pick(emoji));
    panel.querySelector('.reaction-quick').replaceChildren(...QUICK_REACTIONS.map(([emoji, name]) => el('button', {
      type: 'button', class: 'emoji-option', 'aria-label': name, title: name, text: emoji, onclick: () => this.#pick(emoji),
    })));
  }

  get isOpen() {
    return this.#picker.isOpen;
  }

  /** @param onPick called with the emoji picked. */
  open(anchor, onPick) {
    this.#onPick = onPick;
    const opened = this.#picker.open(anchor);
    placeNear(this.#panel, anchor);
    this.#panel.querySelector('.reaction-quick .emoji-option')?.focus();
    return opened;
  }

  close(restoreFocus = true) {
    this.#picker.close(restoreFocus);
  }

  #pick(emoji) {
    const onPick = this.#onPick;
    this.#onPick = null;
    this.close();
    onPick?.(emoji);
  }
}
