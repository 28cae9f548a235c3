// Files in messages (protocol 1.2): PNG, JPEG, GIF and WebP images inline,
// in a box of their size (from the FILE's width and height) reserved
// before they load so that nothing around them moves (or, not knowing it, a
// box of a fixed size, fitted to the picture once it came with the view
// kept in place), and
// opened full size on click (Escape, Close or a click beside it closes
// that); any other file as a card with its name, its size and a Download
// link. No cookie carries credentials, so the bytes are fetched with the
// page's token and shown from a blob URL, revoked once nothing on the page
// shows it any more. (Where the page's Content-Security-Policy allows no
// blob: images, a data: URL of the same bytes takes its place.)

import { button, element } from "./dom.js";

export const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const BOX = { width: 320, height: 240 }; // an image inline is at most this large
const UNKNOWN_BOX = { width: 240, height: 180 }; // the box of an image of unknown size
const SWEEP_MS = 1000; // after a change to the page, URLs nothing shows are revoked
const DOWNLOAD_URL_MS = 60000; // a download's blob URL lives this long

// "532 bytes", "1.4 KB", "25 MB".
export function humanSize(bytes) {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  const units = ["KB", "MB", "GB", "TB"];
  let size = bytes / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${units[unit]}`;
}

const fileUrl = (id) => `/api/files/${encodeURIComponent(id)}`;

// What a refused download says.
function failure(status) {
  if (status === 404) return "It is not there (any more), or not for you.";
  if (status === 401) return "Your session has ended; log in again.";
  return `The server answered ${status}.`;
}

// The bytes of files, fetched with the page's token, each as one blob URL
// shared by whatever shows it (elements carrying `data-file-id`).
export class FileStore {
  // `token()` is the page's token (or null).
  constructor(token) {
    this.token = token;
    this.entries = new Map(); // id -> {promise, controller, url, blob, dataUrl}
    this.blobRefused = false; // the page may not show blob: images (its CSP)
    this.sweepTimer = null;
    new MutationObserver(() => this.sweepSoon()).observe(document.body, { childList: true, subtree: true });
  }

  async fetchBlob(id, signal) {
    const token = this.token();
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(fileUrl(id), { headers, signal });
    if (!response.ok) throw new Error(failure(response.status));
    return response.blob(); // its type is the server's Content-Type
  }

  // File `id` as {url, blob}; fetched once while something shows it.
  load(id) {
    let entry = this.entries.get(id);
    if (!entry) {
      const controller = new AbortController();
      entry = { controller, url: null, blob: null, dataUrl: null };
      entry.promise = this.fetchBlob(id, controller.signal).then(
        (blob) => {
          entry.blob = blob;
          entry.url = URL.createObjectURL(blob);
          return entry;
        },
        (error) => {
          if (this.entries.get(id) === entry) this.entries.delete(id);
          throw error;
        },
      );
      this.entries.set(id, entry);
    }
    return entry.promise;
  }

  // The same bytes as a data: URL (for a page that allows no blob: images).
  async dataUrl(entry) {
    entry.dataUrl ??= await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(entry.blob);
    });
    return entry.dataUrl;
  }

  sweepSoon() {
    if (this.sweepTimer !== null || this.entries.size === 0) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.sweep();
    }, SWEEP_MS);
  }

  // Forget (abort, revoke) every file nothing on the page shows.
  sweep() {
    const shown = new Set([...document.querySelectorAll("[data-file-id]")].map((node) => node.dataset.fileId));
    for (const [id, entry] of this.entries) {
      if (shown.has(id)) continue;
      this.entries.delete(id);
      entry.controller.abort();
      if (entry.url) URL.revokeObjectURL(entry.url);
    }
  }

  // Save file `file` as the browser saves downloads.
  async download(file) {
    const blob = await this.fetchBlob(file.id);
    const url = URL.createObjectURL(blob);
    const link = element("a");
    link.href = url;
    link.download = file.name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), DOWNLOAD_URL_MS);
  }

  // Every file forgotten (at log out).
  clear() {
    for (const entry of this.entries.values()) {
      entry.controller.abort();
      if (entry.url) URL.revokeObjectURL(entry.url);
    }
    this.entries.clear();
  }
}

// The size an image `width` x `height` is shown at: its own, scaled down
// into BOX; null if either is unknown.
function fitted(width, height) {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) return null;
  const scale = Math.min(1, BOX.width / width, BOX.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function sizeTo(frame, { width, height }) {
  frame.style.width = `${width}px`;
  frame.style.height = `${height}px`;
}

// A card: the file's name, its size, and a Download link that fetches it
// with the token.
export function fileCard(file, store, note = "") {
  const card = element("div", "file-card");
  card.dataset.fileCard = file.id;
  const about = element("span", "file-about");
  about.append(element("span", "file-name", file.name), element("span", "file-size", humanSize(file.size)));
  const link = element("a", "file-download", "Download");
  link.href = fileUrl(file.id);
  link.download = file.name;
  link.setAttribute("aria-label", `Download ${file.name}`);
  const said = element("span", "file-note", note);
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    said.textContent = "Downloading…";
    try {
      await store.download(file);
      said.textContent = note;
    } catch (error) {
      said.textContent = `Could not download it. ${error.message}`;
    }
  });
  card.append(about, link, said);
  return card;
}

// An image inline: its box at once, the picture when its bytes came; a
// card instead if the server says they are no image, or they do not show.
// `keepPlace(change)` makes a change of size that keeps the view in place.
function inlineImage(file, store, lightbox, keepPlace) {
  const known = fitted(file.width, file.height);
  const frame = button("file-image loading", "", () => {
    if (img.src) lightbox.open(file, img.src);
  });
  frame.dataset.fileId = file.id;
  frame.setAttribute("aria-label", `${file.name}: open full size`);
  frame.title = `${file.name} (${humanSize(file.size)})`;
  sizeTo(frame, known ?? UNKNOWN_BOX);
  const img = element("img");
  img.alt = file.name;
  frame.append(img);
  const instead = (note) => frame.replaceWith(fileCard(file, store, note));
  store.load(file.id).then(
    (entry) => {
      if (!INLINE_TYPES.has(entry.blob.type)) {
        instead("");
        return;
      }
      // The blob URL; if it is refused, the same bytes as a data: URL (and
      // from then on at once).
      let viaData = store.blobRefused;
      const show = async () => {
        try {
          img.src = viaData ? await store.dataUrl(entry) : entry.url;
        } catch {
          instead("It could not be shown.");
        }
      };
      img.onload = () => {
        frame.classList.remove("loading");
        if (viaData) store.blobRefused = true;
        const size = fitted(img.naturalWidth, img.naturalHeight);
        if (!known && size && frame.isConnected) keepPlace(() => sizeTo(frame, size));
      };
      img.onerror = () => {
        if (viaData) instead("It could not be shown.");
        else {
          viaData = true;
          show();
        }
      };
      show();
    },
    (error) => {
      if (error.name !== "AbortError") instead(`It could not be loaded. ${error.message}`);
    },
  );
  return frame;
}

// A message's files, in the order sent.
export function renderFiles(files, { store, lightbox, keepPlace }) {
  const list = element("div", "files");
  for (const file of files) {
    if (!file || typeof file.id !== "string" || typeof file.name !== "string") continue;
    const image = INLINE_TYPES.has(file.type);
    list.append(image ? inlineImage(file, store, lightbox, keepPlace) : fileCard(file, store));
  }
  return list;
}

// An image full size over the page; Escape, Close or a click beside it
// closes it, and focus goes back where it was.
export class Lightbox {
  constructor() {
    this.node = null;
    this.back = null;
    document.addEventListener(
      "keydown",
      (event) => {
        if (event.key !== "Escape" || !this.node) return;
        event.preventDefault();
        event.stopPropagation();
        this.close();
      },
      true,
    );
  }

  open(file, src) {
    this.close();
    this.back = document.activeElement;
    const overlay = element("div", "lightbox");
    overlay.dataset.fileId = file.id; // its URL stays while it shows
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", file.name);
    const img = element("img", "lightbox-image");
    img.src = src;
    img.alt = file.name;
    const bar = element("div", "lightbox-bar");
    const save = element("a", "file-download", "Download");
    save.href = src;
    save.download = file.name;
    const close = button("secondary", "Close", () => this.close());
    bar.append(element("span", "file-name", file.name), element("span", "file-size", humanSize(file.size)), save, close);
    overlay.append(img, bar);
    overlay.addEventListener("click", (event) => {
      if (event.target === overlay) this.close();
    });
    document.body.append(overlay);
    this.node = overlay;
    close.focus();
  }

  close() {
    if (!this.node) return;
    this.node.remove();
    this.node = null;
    if (this.back?.isConnected) this.back.focus();
    this.back = null;
  }
}
