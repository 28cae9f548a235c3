// Search (protocol 1.2): a box over the page, opened by Search in the
// header, Ctrl-K, or `/` when not typing in a field; Enter sends `search`,
// and the `results` show grouped by room (the room with the newest match
// first), each text with the query's words marked, "No results" when there
// are none, and refusals in words. Choosing a result opens its room at that
// message (jump.js). Every string from a user is a text node; the marks are
// <mark> elements made here.

import { $, closeBox, element, openBox } from "./dom.js";
import { describeError, isDirect, otherUser, roomKey, sentence } from "./protocol.js";

const LIMIT = 50; // the most the server gives at once
const SNIPPET_CHARS = 280; // of a longer text, this much around the first match
const BEFORE_MATCH = 80; // characters shown before it
const WORD = /[\p{L}\p{N}]+/gu; // a word, as the server splits words
const NOT_CONNECTED = "Not connected; try again once the page is connected.";

// The words of `query` (quotes only group them), each once, in lower case.
export function queryWords(query) {
  return [...new Set((query.match(WORD) ?? []).map((word) => word.toLowerCase()))];
}

// Whole words of `words` in any case, longest first.
function wordPattern(words) {
  if (!words.length) return null;
  const escaped = [...words].sort((a, b) => b.length - a.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})(?![\\p{L}\\p{N}])`, "giu");
}

// `text` as text nodes, each of `words` in it a <mark>.
export function highlight(text, words) {
  const fragment = document.createDocumentFragment();
  const pattern = wordPattern(words);
  let from = 0;
  if (pattern) {
    for (const match of text.matchAll(pattern)) {
      fragment.append(text.slice(from, match.index), element("mark", "hit", match[0]));
      from = match.index + match[0].length;
    }
  }
  fragment.append(text.slice(from));
  return fragment;
}

// A long text cut to the part around its first match.
export function snippet(text, words) {
  const chars = [...text];
  if (chars.length <= SNIPPET_CHARS) return text;
  const pattern = wordPattern(words);
  const at = pattern ? text.search(pattern) : -1;
  const atChar = at > 0 ? [...text.slice(0, at)].length : 0;
  const start = Math.max(0, Math.min(atChar - BEFORE_MATCH, chars.length - SNIPPET_CHARS));
  const end = start + SNIPPET_CHARS;
  return `${start > 0 ? "…" : ""}${chars.slice(start, end).join("")}${end < chars.length ? "…" : ""}`;
}

function when(ts) {
  const date = new Date(ts);
  const time = element("time", "search-time", date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }));
  time.dateTime = date.toISOString();
  return time;
}

// Focus is in a field where `/` is typed, not a shortcut.
function typing(target) {
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return !["checkbox", "radio", "button", "submit"].includes(target.type);
  return Boolean(target?.isContentEditable);
}

export class SearchPanel {
  // `client()` is the page's ChatClient (or null); `openRoom()` the open
  // room's name (or null); `me()` the user; `onPick(room, id)` opens a result.
  constructor({ client, openRoom, me, onPick }) {
    Object.assign(this, { client, openRoom, me, onPick });
    this.ref = null; // of the search whose answer is awaited
    this.words = [];
    this.back = null; // what had focus before the box opened
    $("search-open").addEventListener("click", () => (this.isOpen() ? this.close(true) : this.open()));
    $("search-close").addEventListener("click", () => this.close(true));
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    $("search").addEventListener("keydown", (event) => this.key(event));
    document.addEventListener("keydown", (event) => this.shortcut(event));
  }

  isOpen() {
    return !$("search").hidden;
  }

  // Ctrl-K (⌘K) anywhere, or `/` outside a field: the box opens.
  shortcut(event) {
    if ($("chat").hidden || event.altKey || event.defaultPrevented) return;
    const ctrlK = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k";
    const slash = event.key === "/" && !event.ctrlKey && !event.metaKey && !typing(event.target);
    if (!ctrlK && !slash) return;
    event.preventDefault();
    this.open();
  }

  // Escape closes the box; the arrows move between the field and the results.
  key(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close(true);
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const stops = [$("search-input"), ...$("search-results").querySelectorAll("button.search-hit")];
    const at = stops.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const next = Math.min(stops.length - 1, Math.max(0, at + (event.key === "ArrowDown" ? 1 : -1)));
    stops[next].focus();
  }

  open() {
    openBox(this, "search");
    const here = this.openRoom();
    $("search-here-row").hidden = !here;
    $("search-here-name").textContent = here && isDirect(here) ? `@${otherUser(here, this.me())}` : `# ${here}`;
    $("search-input").focus();
    $("search-input").select();
  }

  // `back`: focus goes back where it was.
  close(back) {
    closeBox(this, "search", back);
  }

  // Logged out: nothing of it stays.
  reset() {
    this.close(false);
    this.ref = null;
    $("search-input").value = "";
    $("search-results").replaceChildren();
    this.say("");
  }

  say(text, error = false) {
    $("search-status").textContent = text;
    $("search-status").classList.toggle("error", error);
  }

  search() {
    const query = $("search-input").value.trim();
    if (!query) {
      this.say("Type a word or two to search for.");
      return;
    }
    const here = $("search-here").checked && !$("search-here-row").hidden ? this.openRoom() : null;
    const ref = this.client()?.search(query, here, LIMIT) ?? null;
    if (ref === null) {
      this.say(NOT_CONNECTED, true);
      return;
    }
    this.ref = ref;
    this.query = query;
    this.words = queryWords(query);
    this.say("Searching…");
  }

  // The server's answer to our latest search.
  onResults(frame) {
    if (frame.ref !== this.ref) return;
    this.ref = null;
    const found = Array.isArray(frame.messages) ? frame.messages : [];
    this.render(found);
    if (!found.length) this.say(`No results for “${this.query}”.`);
    else {
      const more = frame.more ? ` (the newest ${found.length}; add words to narrow it down)` : "";
      this.say(`${found.length === 1 ? "1 result" : `${found.length} results`}${more}.`);
    }
  }

  // The server refused our latest search.
  onError(frame) {
    if (frame.ref !== this.ref) return;
    this.ref = null;
    let text = describeError(frame.code, frame.message);
    if (frame.code === "rate_limited") {
      const wait = Number.isFinite(frame.retry_after_ms) ? `${Math.ceil(frame.retry_after_ms / 1000)} s` : "a moment";
      text = `You are searching too fast; wait ${wait} and try again.`;
    }
    else if (frame.code === "bad_request" && frame.message) text = sentence(frame.message);
    this.say(`Could not search. ${text}`, true);
  }

  render(found) {
    const groups = new Map(); // roomKey -> {room, messages}, the newest match's room first
    for (const message of found) {
      if (typeof message?.room !== "string" || !Number.isInteger(message.id)) continue;
      const key = roomKey(message.room);
      if (!groups.has(key)) groups.set(key, { room: message.room, messages: [] });
      groups.get(key).messages.push(message);
    }
    const results = $("search-results");
    results.replaceChildren();
    for (const { room, messages } of groups.values()) {
      const group = element("div", "search-group");
      group.setAttribute("role", "group");
      const title = isDirect(room) ? `@${otherUser(room, this.me())}` : `# ${room}`;
      group.setAttribute("aria-label", title);
      const list = element("ol", "search-hits");
      for (const message of messages) list.append(this.hit(message));
      group.append(element("h3", "search-room", title), list);
      results.append(group);
    }
  }

  hit(message) {
    const item = element("li");
    const choose = element("button", "search-hit");
    choose.type = "button";
    const meta = element("span", "search-meta");
    meta.append(element("span", "author", message.user ?? ""), when(message.ts));
    const text = element("span", "search-text");
    const words = typeof message.text === "string" ? message.text : "";
    text.append(highlight(snippet(words, this.words), this.words));
    choose.append(meta, text);
    choose.addEventListener("click", () => {
      this.close(false);
      this.onPick(message.room, message.id);
    });
    item.append(choose);
    return item;
  }
}
