// The Mentions view (1.2, issue 27): a box opened by Mentions in the header
// listing the recent messages that mention the user, newest first: those
// told of by `mention` frames in this session, those among the messages
// loaded (MSG's `mentions`), and, each time the box opens, a search for the
// user's name (results whose `mentions` name the user). The button counts
// the mentions that came since the box was last opened. Choosing one opens
// its room at that message (jump.js). Every string from a user is a text node.

import { $, closeBox, element, openBox, overlayBox } from "./dom.js";
import { mentions } from "./messages.js";
import { isDirect, mentionsOf, otherUser, roomKey } from "./protocol.js";

const KEPT = 100; // the newest mentions kept
const SEARCH_LIMIT = 50;
const TEXT_CHARS = 280; // of a longer text, its beginning

function when(ts) {
  const date = new Date(ts);
  const time = element("time", "search-time", date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }));
  time.dateTime = date.toISOString();
  return time;
}

export class MentionsView {
  // `client()` the page's ChatClient (or null); `me()` the user;
  // `onPick(room, id)` opens a mention's room at its message.
  constructor({ client, me, onPick }) {
    Object.assign(this, { client, me, onPick });
    this.entries = new Map(); // "roomKey id" -> {room, id, by, text, ts}
    this.fresh = 0; // mentions by others since the box was last opened
    this.ref = null; // of our search
    this.back = null; // what had focus before the box opened
    $("mentions-open").addEventListener("click", () => (this.isOpen() ? this.close(true) : this.open()));
    $("mentions-close").addEventListener("click", () => this.close(true));
    overlayBox($("mentions"), this); // (one box over the page at a time)
  }

  isOpen() {
    return !$("mentions").hidden;
  }

  // Messages loaded or arriving (`live`): those mentioning the user are kept.
  saw(messages, live = false) {
    const me = this.me();
    if (!Array.isArray(messages) || !me) return;
    let added = false;
    for (const message of messages) {
      if (message?.deleted || !mentionsOf(message, me)) continue;
      added = this.keep(message.room, message.id, message.user, message.text, message.ts, live) || added;
    }
    if (added) this.changed();
  }

  // `mention`: someone named the user in message `id` of `room`.
  onMention({ room, id, by } = {}) {
    if (this.keep(room, id, by, undefined, Date.now(), true)) this.changed();
  }

  // True if it is new here.
  keep(room, id, by, text, ts, live) {
    const me = this.me();
    if (typeof room !== "string" || !Number.isInteger(id) || typeof by !== "string") return false;
    if (by.toLowerCase() === me?.toLowerCase()) return false;
    const key = `${roomKey(room)} ${id}`;
    const known = this.entries.get(key);
    if (known) {
      if (typeof text === "string" && known.text === undefined) {
        Object.assign(known, { room, text, ts: Number.isFinite(ts) ? ts : known.ts });
        return true;
      }
      return false;
    }
    this.entries.set(key, { room, id, by, text, ts: Number.isFinite(ts) ? ts : Date.now() });
    if (live && !this.isOpen()) this.fresh += 1;
    if (this.entries.size > KEPT) this.entries.delete(this.newestFirst().pop().key);
    return true;
  }

  // A message was edited or deleted: a mention in it follows.
  onChanged(room, id, text) {
    const key = `${roomKey(room)} ${id}`;
    const known = this.entries.get(key);
    if (!known) return;
    if (text === null) this.entries.delete(key);
    else known.text = text;
    this.changed();
  }

  newestFirst() {
    return [...this.entries]
      .map(([key, entry]) => ({ key, ...entry }))
      .sort((a, b) => b.ts - a.ts || b.id - a.id);
  }

  changed() {
    const count = $("mentions-count");
    count.hidden = this.fresh === 0;
    count.textContent = String(this.fresh);
    $("mentions-open").setAttribute("aria-label", this.fresh ? `Mentions (${this.fresh} new)` : "Mentions");
    if (this.isOpen()) this.render();
  }

  open() {
    document.dispatchEvent(new CustomEvent("chatroom:panel", { detail: this }));
    openBox(this, "mentions");
    this.fresh = 0;
    this.changed();
    this.search();
    $("mentions-close").focus();
  }

  // `back`: focus goes back where it was.
  close(back) {
    closeBox(this, "mentions", back);
  }

  // Logged out: nothing of it stays.
  reset() {
    this.close(false);
    this.entries.clear();
    this.fresh = 0;
    this.ref = null;
    this.changed();
    this.say("");
  }

  say(text) {
    $("mentions-status").textContent = text;
  }

  // Older mentions, from before this session: a search for the user's name.
  search() {
    const me = this.me();
    if (this.ref !== null || !me) return;
    this.ref = this.client()?.search(`"${me}"`, null, SEARCH_LIMIT) ?? null;
    if (this.ref !== null && !this.entries.size) this.say("Looking for mentions…");
  }

  onResults(frame) {
    if (frame.ref !== this.ref || this.ref === null) return;
    this.ref = null;
    this.say("");
    this.saw(frame.messages);
    this.render();
  }

  // Refused (too fast, a name with no word to search for): the box lists
  // what this session saw.
  onError(frame) {
    if (frame.ref !== this.ref || this.ref === null) return;
    this.ref = null;
    this.render();
  }

  render() {
    const list = $("mentions-list");
    list.replaceChildren();
    const me = this.me();
    for (const entry of this.newestFirst()) list.append(this.item(entry, me));
    if (this.ref !== null) return; // "Looking for mentions…" until the search answers
    this.say(this.entries.size ? "" : `Nobody has mentioned you yet. When someone writes @${me ?? "you"}, it shows here.`);
  }

  item({ room, id, by, text, ts }, me) {
    const item = element("li");
    const choose = element("button", "search-hit mention-hit");
    choose.type = "button";
    const meta = element("span", "search-meta");
    const where = isDirect(room) ? `@${otherUser(room, me)}` : `# ${room}`;
    meta.append(element("span", "author", by), element("span", "mention-room", where), when(ts));
    const words = element("span", "search-text");
    if (typeof text === "string") {
      const chars = [...text];
      words.append(mentions(chars.length > TEXT_CHARS ? `${chars.slice(0, TEXT_CHARS).join("")}…` : text, me));
    } else words.append(element("span", "muted", "Open the room to read it."));
    choose.append(meta, words);
    choose.addEventListener("click", () => {
      this.close(false);
      this.onPick(room, id);
    });
    item.append(choose);
    return item;
  }
}
