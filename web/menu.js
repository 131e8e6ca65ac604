// A popup menu of actions (a message's Edit / Delete / React / Remove, the owner's Lock): opened
// from a button, one at a time, with the keys of a menu (arrows, Home, End, Escape, Tab leaves).

import { el, placeNear } from './dom.js';

export class PopupMenu {
  #node;
  #anchor = null;

  /** @param node an empty element the menu is drawn in (role=menu is set here). */
  constructor(node) {
    this.#node = node;
    node.setAttribute('role', 'menu');
    node.addEventListener('keydown', (event) => this.#onKey(event));
    document.addEventListener('pointerdown', (event) => {
      if (this.isOpen && !node.contains(event.target) && !this.#anchor?.contains(event.target)) this.close(false);
    });
    // The menu follows its button when the timeline scrolls. (Closing it instead would drop the
    // keyboard user's focus whenever something scrolls, a new message or a tool measuring the page.)
    document.addEventListener('scroll', () => this.isOpen && this.#anchor?.isConnected && placeNear(this.#node, this.#anchor), true);
  }

  get isOpen() {
    return !this.#node.hidden;
  }

  /**
   * @param anchor the button that opened it (aria-expanded follows; focus goes back to it).
   * @param label what the menu is about, for screen readers.
   * @param items [{ label, onSelect, danger? }]
   */
  open(anchor, label, items) {
    const reopening = this.isOpen && this.#anchor === anchor;
    this.close(false);
    if (reopening) return; // a second click on the same button closes it
    this.#anchor = anchor;
    this.#node.setAttribute('aria-label', label);
    this.#node.replaceChildren(...items.map((item) => el('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'menu-item danger' : 'menu-item', text: item.label,
      onclick: () => {
        this.close();
        item.onSelect();
      },
    })));
    this.#node.hidden = false;
    anchor.setAttribute('aria-expanded', 'true');
    placeNear(this.#node, anchor);
    this.#node.firstElementChild?.focus();
  }

  /** @param restoreFocus false when the user clicked elsewhere (focus goes where they clicked). */
  close(restoreFocus = true) {
    if (!this.isOpen) return;
    this.#node.hidden = true;
    const anchor = this.#anchor;
    anchor?.setAttribute('aria-expanded', 'false');
    if (restoreFocus && anchor?.isConnected) anchor.focus();
  }

  #onKey(event) {
    const items = [...this.#node.children];
    const index = items.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.close();
    } else if (event.key === 'Tab') {
      this.close(false);
    } else if (event.key in moves && items.length) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length].focus();
    }
  }
}
