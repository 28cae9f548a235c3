// Files attached to the next message (protocol 1.2): picked with Attach,
// dropped on the conversation, or pasted (images from the clipboard). Each
// is uploaded at once to the room open then (POST /api/rooms/R/files with
// the page's token, a progress bar while it goes) and listed above the
// message field; the next message sent in that room takes those done, also
// with no text. A message sent while some are still uploading goes when
// they are done. A refusal (too large, too fast, not a member) is said
// beside the file, with Retry and Remove.

import { $, button, element } from "./dom.js";
import { humanSize } from "./files.js";
import { describeError, roomKey, sentence } from "./protocol.js";

export const MAX_FILES = 10; // in one message
const DEFAULT_NAME = "file";

// The name a file is uploaded under: its own, or one made for a pasted
// image (1 to 255 characters, no slashes nor control characters).
function nameOf(file, index) {
  const name = (file.name || "").replace(/[\u0000-\u001f\u007f/\\]/g, "_").slice(0, 255);
  if (name && name !== "." && name !== "..") return name;
  const extension = (file.type.match(/^image\/(png|jpeg|gif|webp)$/) ?? [])[1];
  return extension ? `pasted-${index + 1}.${extension === "jpeg" ? "jpg" : extension}` : DEFAULT_NAME;
}

// What a refused upload says, from its HTTP answer.
function refusal(xhr) {
  let body = {};
  try {
    body = JSON.parse(xhr.responseText || "{}");
  } catch {
    // not JSON: the status says enough
  }
  const said = body.error?.message ? sentence(body.error.message.replace(/\s*\(--[^)]*\)/, "")) : "";
  switch (xhr.status) {
    case 413:
      return `Too large to upload. ${said}`.trim();
    case 429: {
      const wait = xhr.getResponseHeader("Retry-After");
      return `Too much uploaded for now; try again${wait ? ` in ${wait} s` : " shortly"}.`;
    }
    case 401:
      return "Your session has ended; log in again.";
    case 403:
      return "You are not a member of this room (any more).";
    case 404:
      return "This room is not there (any more).";
    default:
      return describeError(body.error?.code, body.error?.message || `The server answered ${xhr.status}`);
  }
}

const hasFiles = (event) => Boolean(event.dataTransfer && [...event.dataTransfer.types].includes("Files"));

export class Uploads {
  // `token()` is the page's token; `openRoom()` the open room's name (or
  // null); `error(text)` tells of a problem; `changed()` follows each
  // change to what is attached.
  constructor({ token, openRoom, error, changed }) {
    Object.assign(this, { token, openRoom, error, changed });
    this.entries = []; // {room, file, name, state: "uploading"|"done"|"failed", loaded, error, info, xhr, bar}
    this.waiting = new Map(); // roomKey -> {send(files), abandon()}: a message sent before its files were up
    this.shown = null; // the roomKey of the room the list is for
    const input = $("attach-input");
    $("attach").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = "";
    });
    this.setUpDrop($("conversation"));
    document.addEventListener("paste", (event) => this.onPaste(event));
  }

  // Files dropped on the conversation are attached; elsewhere on the page
  // a dropped file does not replace the page.
  setUpDrop(area) {
    let depth = 0;
    const done = () => {
      depth = 0;
      area.classList.remove("dropping");
    };
    area.addEventListener("dragenter", (event) => {
      if (!hasFiles(event) || !this.openRoom()) return;
      event.preventDefault();
      depth += 1;
      area.classList.add("dropping");
    });
    area.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) area.classList.remove("dropping");
    });
    area.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      done();
      this.add([...event.dataTransfer.files]);
    });
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => {
        if (hasFiles(event)) event.preventDefault();
        if (type === "drop") done();
      });
    }
  }

  // A paste with files (an image copied) into the message field, or
  // anywhere but another field: they are attached, and nothing is typed.
  onPaste(event) {
    const target = event.target;
    const field = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if ((field && target.id !== "message-input") || $("chat").hidden) return;
    const data = event.clipboardData;
    let files = [...(data?.files ?? [])];
    if (!files.length) files = [...(data?.items ?? [])].filter((i) => i.kind === "file").map((i) => i.getAsFile());
    files = files.filter(Boolean);
    if (!files.length) return;
    event.preventDefault();
    this.add(files);
  }

  // Upload `files` to the open room, at most MAX_FILES waiting there.
  add(files) {
    const room = this.openRoom();
    if (!files.length) return;
    if (!room) {
      this.error("Open a room first, then attach files to a message there.");
      return;
    }
    const take = files.slice(0, Math.max(0, MAX_FILES - this.inRoom(room).length));
    if (take.length < files.length) this.error(`At most ${MAX_FILES} files go with one message.`);
    take.forEach((file, index) => {
      const entry = { room, file, name: nameOf(file, index), state: "uploading", loaded: 0, error: null, info: null };
      this.entries.push(entry);
      this.start(entry);
    });
    this.render();
    this.changed();
  }

  start(entry) {
    const xhr = new XMLHttpRequest();
    Object.assign(entry, { xhr, state: "uploading", loaded: 0, error: null });
    const query = `name=${encodeURIComponent(entry.name)}`;
    xhr.open("POST", `/api/rooms/${encodeURIComponent(entry.room)}/files?${query}`);
    const token = this.token();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Content-Type", entry.file.type || "application/octet-stream");
    xhr.upload.onprogress = (event) => {
      entry.loaded = event.loaded;
      if (entry.bar) entry.bar.value = event.lengthComputable ? event.loaded / event.total : 0;
    };
    xhr.onload = () => {
      let info = null;
      try {
        info = xhr.status === 201 ? JSON.parse(xhr.responseText).file : null;
      } catch {
        info = null;
      }
      if (info && typeof info.id === "string") this.settle(entry, "done", null, info);
      else this.settle(entry, "failed", refusal(xhr));
    };
    xhr.onerror = () =>
      this.settle(entry, "failed", "The upload was cut off: the connection dropped, or the file is too large.");
    xhr.send(entry.file);
  }

  settle(entry, state, error, info = null) {
    if (!this.entries.includes(entry)) return; // removed meanwhile
    Object.assign(entry, { state, error, info, xhr: null, bar: null });
    if (error) this.error(`${entry.name}: ${error}`);
    this.render();
    this.proceed(entry.room);
  }

  remove(entry) {
    entry.xhr?.abort();
    this.entries = this.entries.filter((e) => e !== entry);
    this.render();
    this.changed();
    this.proceed(entry.room);
  }

  // What is attached in room `name`.
  inRoom(name) {
    const key = roomKey(name);
    return this.entries.filter((e) => roomKey(e.room) === key);
  }

  has(name) {
    return Boolean(name) && this.inRoom(name).length > 0;
  }

  // Hand the files done in room `name` to `send(files)` (FILEs, perhaps
  // none), now or once those uploading are done; `abandon()` if one of
  // them fails meanwhile. False, and why said, if one failed already.
  send(name, send, abandon) {
    const entries = this.inRoom(name);
    if (entries.some((e) => e.state === "failed")) {
      this.error("A file did not upload: retry it or remove it, then send again.");
      return false;
    }
    this.waiting.get(roomKey(name))?.abandon();
    this.waiting.set(roomKey(name), { send, abandon });
    this.proceed(name);
    return true;
  }

  // A message waits in room `name`: send it if its files are done.
  proceed(name) {
    const key = roomKey(name);
    const waiting = this.waiting.get(key);
    const entries = this.inRoom(name);
    if (!waiting || entries.some((e) => e.state === "uploading")) {
      this.render();
      return;
    }
    this.waiting.delete(key);
    if (entries.some((e) => e.state === "failed")) {
      waiting.abandon();
      return;
    }
    this.entries = this.entries.filter((e) => !entries.includes(e));
    waiting.send(entries.map((e) => e.info));
    this.render();
    this.changed();
  }

  // The list above the message field, for the open room.
  render() {
    const list = $("uploads");
    const name = this.openRoom();
    const entries = name ? this.inRoom(name) : [];
    list.replaceChildren();
    list.hidden = entries.length === 0;
    const waiting = name && this.waiting.has(roomKey(name));
    for (const entry of entries) list.append(this.item(entry, waiting));
    $("attach").disabled = !name;
  }

  item(entry, waiting) {
    const li = element("li", `upload ${entry.state}`);
    li.append(element("span", "upload-name", entry.name), element("span", "upload-size", humanSize(entry.file.size)));
    if (entry.state === "uploading") {
      const bar = element("progress", "upload-bar");
      bar.max = 1;
      bar.value = entry.file.size ? entry.loaded / entry.file.size : 0;
      bar.setAttribute("aria-label", `Uploading ${entry.name}`);
      entry.bar = bar;
      li.append(bar);
      if (waiting) li.append(element("span", "upload-state", "sends when uploaded"));
    } else if (entry.state === "done") {
      li.append(element("span", "upload-state", "ready"));
    } else {
      li.append(element("span", "upload-error", entry.error));
      const again = button("tool", "Retry", () => {
        this.start(entry);
        this.render();
      });
      again.setAttribute("aria-label", `Retry uploading ${entry.name}`);
      li.append(again);
    }
    const remove = button("tool", "×", () => this.remove(entry));
    remove.setAttribute("aria-label", `Remove ${entry.name}`);
    li.append(remove);
    return li;
  }

  // Every upload stopped and forgotten (at log out).
  clear() {
    for (const entry of this.entries) entry.xhr?.abort();
    this.entries = [];
    this.waiting.clear();
    this.render();
  }
}
