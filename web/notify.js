// Desktop notifications for messages that arrive while the tab is hidden. The browser is asked for
// permission only when the user clicks the bell (a prompt on page load is refused by habit, and
// browsers penalise it); a second click turns them off again. The choice is kept per browser.

import { prefs } from './storage.js';
import { toast } from './toast.js';

const KEY = 'echo.notify';

function permission() {
  return 'Notification' in window ? Notification.permission : 'unsupported';
}

export class Notifier {
  #button;
  #enabled;

  constructor(button) {
    this.#button = button;
    this.#enabled = prefs.get(KEY, false) === true && permission() === 'granted';
    button.addEventListener('click', () => this.toggle());
    this.#render();
  }

  get enabled() {
    return this.#enabled;
  }

  async toggle() {
    if (this.#enabled) {
      this.#set(false);
      toast('Notifications off.');
      return;
    }
    let answer = permission();
    if (answer === 'unsupported') {
      toast('This browser cannot show notifications.', { kind: 'error' });
      return;
    }
    if (answer === 'default') {
      try {
        answer = await Notification.requestPermission();
      } catch {
        answer = 'denied';
      }
    }
    if (answer !== 'granted') {
      toast('Notifications are blocked for this site: allow them in the browser’s site settings, then click the bell again.', { kind: 'error', timeout: 10000 });
      return;
    }
    this.#set(true);
    toast('Notifications on: new messages are announced while Echo is in the background.');
  }

  /** A message from someone else arrived while the tab is hidden; `tag` groups a room's. */
  notify({ title, body, tag }) {
    if (!this.#enabled || permission() !== 'granted') return;
    try {
      const note = new Notification(title, { body, tag, renotify: true, icon: new URL('./favicon.svg', import.meta.url).href });
      note.addEventListener('click', () => {
        window.focus();
        note.close();
      });
    } catch {
      // Some mobile browsers show notifications only from a service worker: the title still counts.
    }
  }

  #set(enabled) {
    this.#enabled = enabled;
    prefs.set(KEY, enabled);
    this.#render();
  }

  #render() {
    this.#button.setAttribute('aria-pressed', String(this.#enabled));
    this.#button.title = this.#enabled ? 'Notifications on: click to turn them off' : 'Notify me of new messages while Echo is in the background';
  }
}
