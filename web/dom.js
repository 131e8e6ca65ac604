// Building DOM nodes without HTML strings: every text goes through textContent, so nothing a user
// typed can ever become markup. (The server's CSP also enforces Trusted Types, which makes any
// innerHTML assignment throw.)

/**
 * el('button', { class: 'x', type: 'button', 'aria-label': 'Close', onclick: fn }, 'text', child)
 * Attributes starting with "on" become listeners; `dataset`, `hidden` and `text` are handled too.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'text') {
      node.textContent = value;
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  const node = root.querySelector(selector);
  if (!node) throw new Error(`missing element ${selector}`);
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/**
 * Places a fixed-position popup next to the control that opened it: above it when there is room
 * (the timeline's newest messages are at the bottom), else below, always inside the viewport.
 */
export function placeNear(popup, anchor, gap = 6) {
  const box = anchor.getBoundingClientRect();
  const { offsetWidth: width, offsetHeight: height } = popup;
  const margin = 8;
  const vw = document.documentElement.clientWidth;
  const vh = document.documentElement.clientHeight;
  let top = box.top - height - gap;
  if (top < margin) top = Math.min(box.bottom + gap, vh - height - margin);
  const left = Math.min(Math.max(margin, box.left + box.width / 2 - width / 2), vw - width - margin);
  popup.style.top = `${Math.max(margin, top)}px`;
  popup.style.left = `${Math.max(margin, left)}px`;
}
