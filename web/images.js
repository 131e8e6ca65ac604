// Images: checking a picked, pasted or dropped file before anything is sent, reading it as a data
// URL, and the zoom overlay.

const TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

// The server checks the same magic numbers; checking here too means a renamed file is refused
// before a large upload, with a message the user can act on.
const SIGNATURES = {
  'image/png': (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47,
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38,
  'image/webp': (b) => b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46
    && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50,
};

export class ImageRejected extends Error {}

/** "3 MB", "2.5 MB", "180 KB". */
export function formatSize(bytes) {
  return bytes >= 1024 * 1024 ? `${Number((bytes / 1024 / 1024).toFixed(1))} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Resolves to { dataURL, name, size, label } or rejects with ImageRejected saying why.
 * @param maxBytes the server's limit on an image's (decoded) size; 0 means it takes no images.
 */
export async function readImage(file, maxBytes) {
  if (!file) throw new ImageRejected('No file was chosen.');
  if (maxBytes <= 0) throw new ImageRejected('This server does not accept images.');
  if (!TYPES.includes(file.type)) {
    throw new ImageRejected(`“${file.name || 'This file'}” is not an image Echo can send (PNG, JPEG, GIF or WebP).`);
  }
  if (file.size > maxBytes) {
    throw new ImageRejected(`“${file.name || 'This image'}” is ${formatSize(file.size)}; images can be at most ${formatSize(maxBytes)}.`);
  }
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  if (!SIGNATURES[file.type](head)) {
    throw new ImageRejected(`“${file.name || 'This file'}” is not a valid ${file.type.slice(6).toUpperCase()} image.`);
  }
  const dataURL = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new ImageRejected('The image could not be read.'));
    reader.readAsDataURL(file);
  });
  return { dataURL, name: file.name || 'pasted image', size: file.size, label: formatSize(file.size) };
}

/** The first image-like file of a paste or drop, if any. */
export function firstFile(dataTransfer) {
  return dataTransfer?.files?.length ? dataTransfer.files[0] : null;
}

/** The zoom overlay is a native <dialog>: focus trap, Escape to close and inertness come free. */
export function setUpZoom(dialog) {
  const img = dialog.querySelector('img');
  dialog.querySelector('.zoom-close').addEventListener('click', () => dialog.close());
  // A click on the backdrop (the dialog box itself, not the picture) closes it too.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener('close', () => img.removeAttribute('src'));
  return (src, alt) => {
    img.src = src;
    img.alt = alt;
    dialog.showModal();
  };
}
