// Sends the server has not confirmed yet. Each is shown at once, kept in
// localStorage under a key of its own (tabs never overwrite each other's),
// so a reload or a crash loses none, and repeated with the same `cid` after
// every `joined` of its room until its message comes back: the server
// stores it once. Unconfirmed after SEND_TIMEOUT_MS it shows as failed, with
// a Retry, and is still repeated after the next reconnect unless the server
// refused it. A send may carry files (1.2): the FILEs uploaded for it,
// whose ids go with the text; and `replyTo` (1.2): the id of the message
// it answers.

import { newCid, roomKey } from "./protocol.js";

const PREFIX = "chatroom.pending.";
const SEND_TIMEOUT_MS = 10000;

export class PendingSends {
  // `send(entry)` hands a send to the connection (which may not be able to
  // now); `show(entry)` and `hide(cid)` keep the page in step.
  constructor(user, { send, show, hide }) {
    Object.assign(this, { send, show, hide });
    this.prefix = `${PREFIX}${user}.`;
    this.entries = new Map(); // cid -> {cid, room, text, files, replyTo, ts, failed, error}
    this.timers = new Map(); // cid -> timeout marking it failed
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key.startsWith(this.prefix)) continue;
      try {
        const entry = JSON.parse(localStorage.getItem(key));
        this.entries.set(entry.cid, { ...entry, failed: false, error: null });
      } catch {
        // not ours to read: leave it
      }
    }
  }

  add(room, text, files = [], replyTo = null) {
    const entry = { cid: newCid(), room, text, files, replyTo, ts: Date.now(), failed: false, error: null };
    this.entries.set(entry.cid, entry);
    localStorage.setItem(this.prefix + entry.cid, JSON.stringify(entry));
    this.try(entry);
  }

  // Send now (if the connection can) and wait for the message again.
  try(entry) {
    entry.failed = false;
    entry.error = null;
    this.send(entry);
    clearTimeout(this.timers.get(entry.cid));
    this.timers.set(entry.cid, setTimeout(() => this.fail(entry, null), SEND_TIMEOUT_MS));
    this.show(entry);
  }

  // The room was (re)joined: repeat what it has not confirmed.
  resend(room) {
    for (const entry of this.inRoom(room)) if (!entry.error) this.try(entry);
  }

  // The server refused it (`error`), or it went unanswered (null).
  fail(entry, error) {
    if (this.entries.get(entry.cid) !== entry) return; // settled meanwhile
    clearTimeout(this.timers.get(entry.cid));
    this.timers.delete(entry.cid);
    entry.failed = true;
    entry.error = error;
    this.show(entry);
  }

  refused(cid, error) {
    const entry = this.entries.get(cid);
    if (entry) this.fail(entry, error);
  }

  // Over: the server stored it, or its room was left.
  settle(cid) {
    if (!this.entries.has(cid)) return;
    this.entries.delete(cid);
    localStorage.removeItem(this.prefix + cid);
    clearTimeout(this.timers.get(cid));
    this.timers.delete(cid);
    this.hide(cid);
  }

  // A room's pending sends, oldest first.
  inRoom(name) {
    const key = roomKey(name);
    return [...this.entries.values()].filter((e) => roomKey(e.room) === key).sort((a, b) => a.ts - b.ts);
  }

  // Only those of `rooms` (roomKeys) are kept.
  keepRooms(rooms) {
    for (const entry of [...this.entries.values()]) if (!rooms.has(roomKey(entry.room))) this.settle(entry.cid);
  }

  dropRoom(name) {
    for (const entry of this.inRoom(name)) this.settle(entry.cid);
  }

  stop() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  // Every user's pending sends, from this browser (at log out).
  static clear() {
    const keys = [];
    for (let i = 0; i < localStorage.length; i++) keys.push(localStorage.key(i));
    for (const key of keys) if (key.startsWith(PREFIX)) localStorage.removeItem(key);
  }
}
