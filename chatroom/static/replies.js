// Replies (1.2): Reply on a message shows a quote of it above the message
// field (its author and first line; x or Escape cancels), and the next
// message sent in that room carries `reply_to`. A message that replies to
// another shows that one's author and first line above its text: from the
// room's loaded messages, else "a message" until the original is fetched
// (`history` just before it, a few at once); clicking the quote opens the
// room at the original (jump.js: paging back as far as needed) and
// highlights it. Every string from a user is a text node.

import { button, element } from "./dom.js";
import { roomKey } from "./protocol.js";

const QUOTE_CHARS = 80; // of the first line, then "…"
const FETCH_MAX = 200; // messages in one `history` for quoted originals

// The first line of `text` with something in it, at most `max` characters.
export function firstLine(text, max = QUOTE_CHARS) {
  const line = (text ?? "").split("\n").find((l) => l.trim()) ?? "";
  const chars = [...line.trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : chars.join("");
}

// What a quote says of `message`: {user, line, muted}.
function summary(message) {
  if (message.deleted) return { user: message.user, line: "a deleted message", muted: true };
  const line = firstLine(message.text);
  if (line) return { user: message.user, line, muted: false };
  const files = Array.isArray(message.files) ? message.files : [];
  if (files.length) return { user: message.user, line: files.map((f) => f.name).join(", "), muted: true };
  return { user: message.user, line: "a message", muted: true };
}

function quoteParts(user, line, muted) {
  const parts = [];
  if (user) parts.push(element("span", "quote-author", user));
  parts.push(element("span", muted ? "quote-text muted" : "quote-text", line));
  return parts;
}

export class Replies {
  // `rooms`: the page's rooms (roomKey -> room); `client()` the ChatClient;
  // `view` the MessageView; `current()` the open room's roomKey; `jumpTo(name,
  // id)` opens room `name` at message `id`; `input` the message field, and
  // `anchor` what the quote of the message being replied to goes before.
  constructor({ rooms, client, view, current, jumpTo, input, anchor }) {
    Object.assign(this, { rooms, client, view, current, jumpTo, input });
    this.replying = new Map(); // roomKey -> {id, user, line, muted}: the next message replies to it
    this.known = new Map(); // roomKey -> Map(id -> message|null): originals fetched (null: none such)
    this.wanted = new Map(); // roomKey -> Set of ids to fetch
    this.asked = new Map(); // ref -> roomKey: our `history` requests
    this.flushing = false;
    this.bar = element("div", "reply-bar");
    this.bar.setAttribute("role", "group");
    this.bar.setAttribute("aria-label", "Replying to");
    this.bar.hidden = true;
    anchor.before(this.bar);
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented || !this.replying.has(this.current())) return;
      event.preventDefault();
      this.cancel();
    });
  }

  // The Reply button among a message's tools.
  button(room, message) {
    const reply = button("tool", "Reply", () => this.start(room, message));
    reply.setAttribute("aria-label", "Reply to this message");
    reply.dataset.focus = "reply";
    return reply;
  }

  start(room, message) {
    this.replying.set(roomKey(room.name), { id: message.id, ...summary(message) });
    this.show();
    this.input.focus();
  }

  cancel() {
    this.replying.delete(this.current());
    this.show();
    this.input.focus();
  }

  // The id the next message in room `name` replies to, or null.
  target(name) {
    return this.replying.get(roomKey(name))?.id ?? null;
  }

  // The message replying went: what it replied to, for again().
  done(name) {
    const what = this.replying.get(roomKey(name)) ?? null;
    this.replying.delete(roomKey(name));
    this.show();
    return what;
  }

  // It did not go after all (a file failed): replying to `what` again,
  // unless to another by now.
  again(name, what) {
    if (!what || this.replying.has(roomKey(name))) return;
    this.replying.set(roomKey(name), what);
    this.show();
  }

  // The quote above the field, for the open room.
  show() {
    const what = this.replying.get(this.current());
    this.bar.hidden = !what;
    this.bar.replaceChildren();
    if (!what) return;
    const quote = element("div", "reply-quote");
    quote.append(element("span", "reply-label", "Replying to"), ...quoteParts(what.user, what.line, what.muted));
    const close = button("reply-cancel", "×", () => this.cancel());
    close.setAttribute("aria-label", "Cancel reply");
    close.title = "Cancel reply (Escape)";
    this.bar.append(quote, close);
  }

  // Above a message's text: the message it replies to, or null.
  quote(room, message) {
    const id = message.reply_to;
    if (!Number.isInteger(id)) return null;
    const key = roomKey(room.name);
    const loaded = room.items.find((i) => i.kind === "message" && i.message.id === id)?.message;
    const known = this.known.get(key);
    const original = loaded ?? known?.get(id);
    let about;
    if (original) about = summary(original);
    else {
      about = { user: null, line: original === null ? "a message no longer there" : "a message", muted: true };
      if (original === undefined) this.want(key, id);
    }
    const quote = button("reply-to", "", () => this.jumpTo(room.name, id));
    quote.append(...quoteParts(about.user, about.line, about.muted));
    const who = about.user ? `${about.user}: ` : "";
    quote.setAttribute("aria-label", `In reply to ${who}${about.line}. Go to it.`);
    quote.title = "Go to the message replied to";
    quote.dataset.focus = "reply-to";
    return quote;
  }

  // Originals are fetched once the list is drawn, a page for several.
  want(key, id) {
    if (!this.wanted.has(key)) this.wanted.set(key, new Set());
    this.wanted.get(key).add(id);
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      for (const wantedKey of this.wanted.keys()) this.fetch(wantedKey);
    });
  }

  fetch(key) {
    const ids = this.wanted.get(key);
    const room = this.rooms.get(key);
    const client = this.client();
    if (!ids?.size || !room || !client?.isJoined(room.name)) return;
    if ([...this.asked.values()].includes(key)) return; // one at a time per room
    const newest = Math.max(...ids);
    const limit = Math.min(FETCH_MAX, newest - Math.min(...ids) + 1);
    const ref = client.history(room.name, newest + 1, limit);
    if (ref !== null) this.asked.set(ref, key);
  }

  // A `history` answer: true if it was one of ours (and is dealt with).
  onHistory(frame) {
    const key = this.asked.get(frame.ref);
    if (key === undefined) return false;
    this.asked.delete(frame.ref);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    const ids = this.wanted.get(key) ?? new Set();
    if (!this.known.has(key)) this.known.set(key, new Map());
    const known = this.known.get(key);
    const newest = Math.max(...ids);
    // Up to the newest asked for, the page says what exists; older than its
    // first message (a page cut short), it does not.
    const from = messages.length && frame.more !== false ? messages[0].id : -Infinity;
    const found = [];
    for (const id of [...ids]) {
      if (id < from || id > newest) continue;
      known.set(id, messages.find((m) => m.id === id) ?? null);
      ids.delete(id);
      found.push(id);
    }
    if (!ids.size) this.wanted.delete(key);
    this.redrawQuotesOf(key, found);
    this.fetch(key);
    return true;
  }

  // A `history` of ours refused: true if it was one of ours.
  onError(frame) {
    const key = this.asked.get(frame.ref);
    if (key === undefined) return false;
    this.asked.delete(frame.ref);
    this.wanted.delete(key); // asked again when next drawn
    return true;
  }

  // Message `id` of room `key` was edited or deleted (`change` makes it as
  // it is now; the room's loaded messages have it already): its quotes
  // show it so.
  changed(key, id, change) {
    const known = this.known.get(key);
    const fetched = known?.get(id);
    if (fetched && !fetched.deleted) known.set(id, change(fetched));
    const replying = this.replying.get(key);
    if (replying?.id === id) {
      const room = this.rooms.get(key);
      const original = room?.items.find((i) => i.kind === "message" && i.message.id === id)?.message;
      if (original ?? known?.get(id)) Object.assign(replying, summary(original ?? known.get(id)));
      if (key === this.current()) this.show();
    }
    this.redrawQuotesOf(key, [id]);
  }

  redrawQuotesOf(key, ids) {
    const room = this.rooms.get(key);
    if (!room || !ids.length) return;
    for (const item of room.items) {
      if (item.kind === "message" && ids.includes(item.message.reply_to)) this.view.redraw(room, item.message.id);
    }
  }

  // Signed out: nothing is kept.
  reset() {
    this.replying.clear();
    this.known.clear();
    this.wanted.clear();
    this.asked.clear();
    this.show();
  }

  // A new connection: our `history` requests on the old one get no answer.
  reconnected() {
    this.asked.clear();
  }
}
