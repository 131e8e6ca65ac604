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
