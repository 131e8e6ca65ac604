import { el } from './dom.js';

/** Shows a short message; errors use role=alert so screen readers announce them at once. */
export function toast(message, { kind = 'info', timeout = 5000 } = {}) {
  const region = document.getElementById('toasts');
  const close = el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  const node = el('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    el('span', { class: 'toast-text', text: message }), close);
  const remove = () => node.remove();
  close.addEventListener('click', remove);
  region.append(node);
  // A pile of stale toasts helps nobody: keep the newest few.
  while (region.children.length > 4) region.firstElementChild.remove();
  if (timeout) setTimeout(remove, timeout);
  return node;
}
