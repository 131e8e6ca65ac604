// Asking before something that cannot be undone (deleting a message, removing someone): a native
// modal <dialog>, so focus is trapped, Escape cancels and the page behind is inert.

import { $ } from './dom.js';

/** Resolves true when the user confirmed. The dialog starts on Cancel: the safe choice. */
export function confirmAction({ title, body, confirm }) {
  const dialog = $('#confirm');
  $('#confirm-title', dialog).textContent = title;
  $('#confirm-body', dialog).textContent = body;
  $('#confirm-ok', dialog).textContent = confirm;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      // The browser gives focus back itself; this covers one that does not (focus left on the
      // body), and never takes focus from where the user has moved it since (the event is a task
      // later than the closing).
      const lost = !document.activeElement || document.activeElement === document.body;
      if (lost && opener?.isConnected) opener.focus();
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    $('#confirm-cancel', dialog).focus();
  });
}
