// The connection status line: "Connected", "Reconnecting, retrying in 3 s", and the "retry now"
// button while the page is not connected.

import { show } from './dom.js';

const TEXT = { idle: 'Offline', connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Disconnected' };

export class StatusLine {
  #node;
  #retryNow;
  #connection;
  #ticker = null;

  /** @param connection the Connection whose status is shown (read for its next attempt time). */
  constructor(node, retryNow, connection) {
    this.#node = node;
    this.#retryNow = retryNow;
    this.#connection = connection;
    retryNow.addEventListener('click', () => connection.reconnectNow());
  }

  show(status) {
    this.#node.dataset.status = status;
    const text = this.#node.querySelector('.status-text');
    const lost = status === 'reconnecting' || status === 'disconnected';
    clearInterval(this.#ticker);
    const render = () => {
      const seconds = Math.ceil((this.#connection.nextAttemptAt - Date.now()) / 1000);
      text.textContent = lost && seconds > 1 ? `${TEXT[status].replace('…', '')}, retrying in ${seconds} s` : TEXT[status];
    };
    render();
    this.#ticker = lost ? setInterval(render, 1000) : null;
    show(this.#retryNow, lost);
  }
}
