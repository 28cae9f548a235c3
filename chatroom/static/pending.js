// Sends the server has not confirmed yet. Each is kept in localStorage under a
// key of its own (tabs never overwrite each other's) until its message comes
// back, so a reload or a crash loses none; it is repeated with the same `cid`
// until then, and the server stores it once.

import { newCid, roomKey } from "./protocol.js";

const PREFIX = "chatroom.pending.";

export class PendingSends {
  constructor(user) {
    this.prefix = `${PREFIX}${user}.`;
    this.entries = new Map(); // cid -> {cid, room, text, ts, failed, error}
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

  add(room, text) {
    const entry = { cid: newCid(), room, text, ts: Date.now(), failed: false, error: null };
    this.entries.set(entry.cid, entry);
    localStorage.setItem(this.prefix + entry.cid, JSON.stringify(entry));
    return entry;
  }

  get(cid) {
    return this.entries.get(cid);
  }

  remove(cid) {
    this.entries.delete(cid);
    localStorage.removeItem(this.prefix + cid);
  }

  // A room's pending sends, oldest first.
  inRoom(name) {
    const key = roomKey(name);
    return [...this.entries.values()].filter((e) => roomKey(e.room) === key).sort((a, b) => a.ts - b.ts);
  }

  dropRoom(name) {
    for (const entry of this.inRoom(name)) this.remove(entry.cid);
  }

  // Every user's pending sends, from this browser (at log out).
  static clear() {
    const keys = [];
    for (let i = 0; i < localStorage.length; i++) keys.push(localStorage.key(i));
    for (const key of keys) if (key.startsWith(PREFIX)) localStorage.removeItem(key);
  }
}
