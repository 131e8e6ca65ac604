// The message box and what goes with a message before it is sent: the reply it quotes, an image
// (picked, pasted or dropped, checked first), emoji inserted at the cursor, editing a message
// already sent, and the keys (Enter sends, Shift+Enter is a new line, Up in an empty box edits
// one's last message, Escape drops the edit or the reply). It knows nothing of sockets.

import { $, show } from './dom.js';
import { EmojiPicker } from './emoji-picker.js';
import { ImageRejected, firstFile, readImage } from './images.js';
import { isSafeImage, replyPreview } from './render.js';
import { toast } from './toast.js';

export class Composer {
  #replyTo = null;
  #editing = null;
  #image = null;
  #dragDepth = 0;

  /**
   * @param onSend called with { text, image, replyTo } when the user sends; it returns false to
   *               keep the draft (nothing was taken).
   * @param limits returns the server's limits now ({ messageLength, imageBytes }, see state.js).
   * @param onEdit called with { messageId, text } when an edit is sent; false keeps the draft.
   * @param lastOwn returns the message Up edits (one's newest), or null.
   */
  constructor(onSend, limits, { onEdit, lastOwn } = {}) {
    this.onSend = onSend;
    this.limits = limits;
    this.onEdit = onEdit;
    this.lastOwn = lastOwn;
    this.editBar = $('#edit-bar');
    this.form = $('#composer');
    this.input = $('#composer-input');
    this.charCount = $('#char-count');
    this.fileInput = $('#file-input');
    this.replyBar = $('#reply-bar');
    this.imageBar = $('#image-bar');
    this.imagePreview = $('#image-preview');
    this.dropZone = $('#drop-zone');
    this.picker = new EmojiPicker($('#emoji-panel'), $('#emoji-button'), (emoji) => this.insert(emoji));

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      } else if (event.key === 'ArrowUp' && !this.input.value && !this.#image && !this.#editing && !event.isComposing) {
        const message = this.lastOwn?.();
        if (message) {
          event.preventDefault();
          this.startEdit(message);
        }
      }
    });
    $('#edit-cancel').addEventListener('click', () => this.cancelEdit());
    this.input.addEventListener('input', () => this.#updateCount());
    $('#reply-cancel').addEventListener('click', () => this.cancelReply());

    $('#attach-button').addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => this.fileInput.files[0] && this.attach(this.fileInput.files[0]));
    $('#image-remove').addEventListener('click', () => {
      this.#setImage(null);
      this.input.focus();
    });
    this.input.addEventListener('paste', (event) => {
      const file = firstFile(event.clipboardData);
      if (file) {
        event.preventDefault();
        this.attach(file);
      }
    });
    this.#acceptDrops($('#chat-screen'));
    this.limitsChanged();
  }

  /** The server announced its limits (a session frame): the box and its counter follow them. */
  limitsChanged() {
    this.input.maxLength = this.limits().messageLength;
    this.#updateCount();
  }

  get hasReply() {
    return this.#replyTo !== null;
  }

  focus() {
    this.input.focus();
  }

  get editing() {
    return this.#editing?.messageId ?? null;
  }

  /** Escape: closes the picker first, then drops the edit, then the reply. True when it did something. */
  escape() {
    if (this.picker.isOpen) {
      this.picker.close();
      return true;
    }
    if (this.#editing) {
      this.cancelEdit();
      return true;
    }
    if (this.#replyTo) {
      this.cancelReply();
      return true;
    }
    return false;
  }

  /** Puts one's own message in the box to be changed; Enter sends the new text, Escape gives up. */
  startEdit(message) {
    if (this.#replyTo) this.cancelReply();
    const original = typeof message.text === 'string' ? message.text : '';
    this.#editing = { messageId: message.id ?? message.messageId, original, draft: this.#editing?.draft ?? this.input.value };
    $('#edit-preview').textContent = replyPreview(message) || 'Image';
    show(this.editBar, true);
    this.input.value = original;
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = this.input.value.length;
    this.#updateCount();
  }

  /** Leaves editing; the box gets back what was being typed before. */
  cancelEdit() {
    if (!this.#editing) return;
    this.input.value = this.#editing.draft;
    this.#editing = null;
    show(this.editBar, false);
    this.input.focus();
    this.#updateCount();
  }

  /** The message being edited was deleted (here or elsewhere): editing it is over. */
  forget(messageId) {
    if (this.#editing?.messageId === messageId) this.cancelEdit();
  }

  /** @param who how the replied-to sender is named in the reply bar ("yourself" for one's own). */
  startReply(message, who) {
    if (this.#editing) this.cancelEdit();
    this.#replyTo = {
      messageId: message.id,
      sender: message.sender,
      sessionId: message.sessionId,
      preview: replyPreview(message),
      isImage: Boolean(message.image && isSafeImage(message.image)),
    };
    $('#reply-to-name').textContent = who;
    $('#reply-to-preview').textContent = this.#replyTo.preview;
    show(this.replyBar, true);
    this.input.focus();
  }

  cancelReply() {
    this.#replyTo = null;
    show(this.replyBar, false);
    this.input.focus();
  }

  /** Empties everything (leaving the room). */
  reset() {
    this.input.value = '';
    this.#replyTo = null;
    this.#editing = null;
    show(this.editBar, false);
    show(this.replyBar, false);
    this.#setImage(null);
    this.picker.close(false);
    this.#updateCount();
  }

  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.input;
    this.input.value = value.slice(0, start) + text + value.slice(end);
    this.input.selectionStart = this.input.selectionEnd = start + text.length;
    this.#updateCount();
  }

  async attach(file) {
    try {
      this.#setImage(await readImage(file, this.limits().imageBytes));
      this.input.focus();
    } catch (error) {
      toast(error instanceof ImageRejected ? error.message : 'The image could not be read.', { kind: 'error' });
    } finally {
      this.fileInput.value = '';
    }
  }

  send() {
    // Leading blank lines and trailing whitespace are never what anyone meant to send.
    const text = this.input.value.replace(/^\s*\n|\s+$/g, '');
    if (!text.trim() && !this.#image) return;
    const { messageLength } = this.limits();
    if (text.length > messageLength) {
      toast(`Messages can be at most ${messageLength} characters.`, { kind: 'error' });
      return;
    }
    if (this.#editing) {
      if (!text.trim()) {
        toast('A message cannot be edited to nothing: delete it instead.', { kind: 'error' });
        return;
      }
      // Unchanged: nothing to tell the room.
      if (text !== this.#editing.original && this.onEdit?.({ messageId: this.#editing.messageId, text }) === false) return;
      this.#editing.draft = '';
      this.cancelEdit();
      return;
    }
    const taken = this.onSend({ text: text.trim() ? text : '', image: this.#image?.dataURL ?? null, replyTo: this.#replyTo });
    if (taken === false) return;
    this.reset();
    this.input.focus();
  }

  #setImage(image) {
    this.#image = image;
    if (image) {
      this.imagePreview.src = image.dataURL;
      $('#image-name').textContent = `${image.name} · ${image.label}`;
    } else {
      this.imagePreview.removeAttribute('src');
    }
    show(this.imageBar, Boolean(image));
  }

  #updateCount() {
    const length = this.input.value.length;
    const { messageLength } = this.limits();
    // Shown near the end only: the last 200 characters, or the last tenth of a short limit.
    show(this.charCount, length > messageLength - Math.min(200, messageLength / 10));
    this.charCount.textContent = `${length} / ${messageLength}`;
    this.charCount.classList.toggle('over', length > messageLength);
  }

  // dragenter/dragleave fire for every child crossed; counting them keeps the overlay steady.
  #acceptDrops(area) {
    area.addEventListener('dragenter', (event) => {
      if (![...(event.dataTransfer?.types ?? [])].includes('Files')) return;
      this.#dragDepth += 1;
      show(this.dropZone, true);
    });
    area.addEventListener('dragleave', () => {
      this.#dragDepth = Math.max(0, this.#dragDepth - 1);
      if (!this.#dragDepth) show(this.dropZone, false);
    });
    area.addEventListener('dragover', (event) => event.preventDefault());
    area.addEventListener('drop', (event) => {
      event.preventDefault();
      this.#dragDepth = 0;
      show(this.dropZone, false);
      const file = firstFile(event.dataTransfer);
      if (file) this.attach(file);
    });
  }
}
