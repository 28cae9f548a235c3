// The open room's messages: rendering (groups, day separators, links, a
// bot's badge, a bot's answers for this user alone) and the scroll place (at
// the bottom it stays there; scrolled up it stays put and counts what
// arrives below); a message's files (files.js), and one message brought
// into view and highlighted a moment (a search result, jump.js). Every
// string from a user is a text node.

import { MessageActions, focusIn } from "./actions.js";
import { botBadge, button, element, userLink } from "./dom.js";
import { markdown } from "./markdown.js";
import { mentionsOf } from "./protocol.js";

const GROUP_MS = 5 * 60 * 1000; // one author's messages closer than this share a heading
const NEAR_BOTTOM_PX = 48;
const NEAR_TOP_PX = 40;
const FOUND_MS = 3000; // a message jumped to stays highlighted this long
export const MAX_SHOWN = 2000;

// `text` as text nodes, with each "@me" (any case) a highlighted span.
export function mentions(text, me) {
  const fragment = document.createDocumentFragment();
  if (!me) {
    fragment.append(text);
    return fragment;
  }
  const name = me.replace(/[.]/g, "\\.");
  const pattern = new RegExp(`(?<![A-Za-z0-9_.@-])@${name}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9_-])`, "gi");
  let from = 0;
  for (const match of text.matchAll(pattern)) {
    fragment.append(text.slice(from, match.index));
    const mark = element("mark", "mention", match[0]);
    mark.title = "Mentions you";
    fragment.append(mark);
    from = match.index + match[0].length;
  }
  fragment.append(text.slice(from));
  return fragment;
}

// `text` as Markdown (markdown.js), mentions of `me` highlighted.
export function formatted(text, me = null) {
  return markdown(text, (plain) => mentions(plain, me));
}

function startOfDay(ts) {
  const day = new Date(ts);
  return new Date(day.getFullYear(), day.getMonth(), day.getDate()).getTime();
}

// "Today", "Yesterday", or the date.
export function dayLabel(ts, now = Date.now()) {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Date(ts).toLocaleDateString([], {
    weekday: "long",
    day: "numeric",
    month: "long",
    year: sameYear ? undefined : "numeric",
  });
}

function timeOf(ts, className) {
  const when = new Date(ts);
  const time = element("time", className, when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  return time;
}

// A message's text and links, "(edited)" after it when it was changed.
function textOf(message, me) {
  const text = element("div", "text");
  text.append(formatted(message.text, me));
  if (message.edited) {
    const mark = element("span", "edited", "(edited)");
    mark.title = `Edited ${new Date(message.edited).toLocaleString()}`;
    const last = text.lastElementChild;
    (last?.tagName === "P" ? last : text).append(" ", mark);
  }
  return text;
}

// A message's author; another user's name is a link that opens the
// conversation with them (`onUser(user)`).
function author(user, me, onUser) {
  if (user === me || !onUser) return element("span", "author", user);
  return userLink("author", user, onUser);
}

// A bot's answer to a command of this user's (`ephemeral`): for their eyes
// only, kept in the page until it reloads, never stored nor unread.
function renderEphemeral(item) {
  const li = element("li", "message ephemeral");
  const meta = element("div", "meta");
  const only = element("span", "only-you", "only visible to you");
  meta.append(element("span", "author", item.bot), botBadge(), timeOf(item.ts, "time"), only);
  const text = element("div", "text");
  text.append(formatted(item.text));
  li.append(meta, text);
  return li;
}

// A message's list item: under its heading (unless `grouped`), its text with
// Edit and Delete, its editor, or the tombstone of a deleted message.
function renderMessage(message, grouped, me, room, actions) {
  const li = element("li", "message");
  li.classList.toggle("own", message.user === me);
  li.classList.toggle("grouped", grouped);
  li.classList.toggle("deleted", Boolean(message.deleted));
  li.dataset.id = String(message.id);
  if (!grouped) {
    const meta = element("div", "meta");
    meta.append(author(message.user, me, actions.onUser));
    if (message.bot) meta.append(botBadge());
    meta.append(timeOf(message.ts, "time"));
    li.append(meta);
  } else {
    li.title = new Date(message.ts).toLocaleString();
  }
  const files = !message.deleted && Array.isArray(message.files) && message.files.length ? message.files : null;
  if (message.deleted) {
    li.append(element("p", "text tombstone", "message deleted"));
  } else if (actions.isEditing(room, message.id)) {
    li.append(actions.editor(room, message));
  } else {
    const quote = actions.renderQuote?.(room, message); // the message it replies to (1.2)
    if (quote) li.append(quote);
    const text = textOf(message, me);
    li.classList.toggle("mentions-me", mentionsOf(message, me) || Boolean(text.querySelector(".mention")));
    if (message.text || message.edited || !files) li.append(text); // files may come without text
    const tools = actions.tools(room, message);
    if (tools) li.append(tools);
  }
  if (files && actions.renderFiles) li.append(actions.renderFiles(files));
  const reactions = !message.deleted && actions.renderReactions?.(room, message); // 1.2
  if (reactions) li.append(reactions);
  return li;
}

// The id of the first message after `room.divider` (the read marker when
// the room was joined or opened) and after the last message of `me` (who
// writes has read what came before; their own messages are never new): the
// "New messages" line goes before it.
function firstNewId(room, me) {
  if (room?.divider == null) return null;
  const own = room.items.findLast((i) => i.kind === "message" && i.message.user === me);
  const after = Math.max(room.divider, own?.message.id ?? 0);
  return room.items.find((i) => i.kind === "message" && i.message.id > after)?.message.id ?? null;
}

function newMessagesLine() {
  const line = element("li", "new-divider");
  line.setAttribute("role", "separator");
  line.setAttribute("aria-label", "New messages");
  line.append(element("span", "", "New messages"));
  return line;
}

// List items for `items` (messages, presence lines, ephemeral answers),
// following `previous`; `divided`: the list shows its "New messages" line
// already.
function renderItems(items, previous, me, room, actions, divided = false) {
  const fragment = document.createDocumentFragment();
  const firstNew = divided ? null : firstNewId(room, me);
  for (const item of items) {
    const isNew = item.kind === "message" && item.message.id === firstNew;
    if (!previous || startOfDay(previous.ts) !== startOfDay(item.ts)) {
      const day = element("li", "day");
      day.append(element("span", "", dayLabel(item.ts)));
      fragment.append(day);
      previous = null;
    }
    if (isNew) {
      fragment.append(newMessagesLine());
      previous = null; // the first new message starts a group
    }
    if (item.kind === "presence") {
      fragment.append(element("li", "presence", item.text));
    } else if (item.kind === "ephemeral") {
      fragment.append(renderEphemeral(item));
    } else {
      const { message } = item;
      const grouped =
        previous?.kind === "message" &&
        previous.message.user === message.user &&
        item.ts - previous.ts < GROUP_MS;
      fragment.append(renderMessage(message, grouped, me, room, actions));
    }
    previous = item;
  }
  return fragment;
}

// A send not confirmed yet: "Sending…", or "Not sent" with a Retry button.
function renderPending(entry, me, onRetry) {
  const li = element("li", "message own pending");
  li.dataset.cid = entry.cid;
  const meta = element("div", "meta");
  meta.append(element("span", "author", me));
  if (entry.failed) {
    li.classList.add("failed");
    meta.append(element("span", "state", entry.error ? `Not sent: ${entry.error}` : "Not sent yet."));
    meta.append(button("retry", "Retry", () => onRetry(entry)));
  } else {
    meta.append(element("span", "state", "Sending…"));
  }
  const text = element("div", "text");
  text.append(formatted(entry.text, me));
  li.append(meta);
  if (entry.text || !entry.files?.length) li.append(text);
  if (entry.files?.length) {
    const names = entry.files.map((file) => file.name).join(", ");
    li.append(element("p", "pending-files", `${entry.files.length === 1 ? "File" : "Files"}: ${names}`));
  }
  return li;
}

export class MessageView {
  // `onNearTop()` asks for older messages; `onRetry(entry)` repeats a send;
  // `canEdit`, `canDelete`, `onSave` and `onDelete` are MessageActions'.
  // `onUser(user)` opens the conversation with a message's author;
  // `renderFiles(files)` shows a message's files. A room `behind` (opened
  // at an old message, jump.js) does not reach its latest messages:
  // `onNearBottom()` is told when its end is scrolled to, and `onLatest()`
  // when the jump button is pressed. Replies and reactions (1.2):
  // `renderQuote(room, message)` shows the message one replies to above its
  // text, `renderReactions(room, message)` its reactions under it, and
  // `moreTools(room, message)` adds buttons (Reply, React) before Edit.
  constructor({ scroller, list, pending, beginning, jump, onNearTop, onRetry, onUser, renderFiles, ...more }) {
    const { onNearBottom, onLatest, renderQuote, renderReactions, moreTools, ...changes } = more;
    Object.assign(this, { scroller, list, pendingList: pending, beginning, jump, onNearTop, onRetry });
    Object.assign(this, { onNearBottom, onLatest });
    this.room = null; // {items, complete, behind, view: {atBottom, fromBottom, fresh}}
    this.me = null;
    this.found = null; // {id, until}: the message jumped to, highlighted until then
    this.actions = new MessageActions({ ...changes, redraw: (room, id) => this.redraw(room, id) });
    this.actions.onUser = onUser;
    this.actions.renderFiles = renderFiles;
    Object.assign(this.actions, { renderQuote, renderReactions, moreTools });
    scroller.addEventListener("scroll", () => this.onScroll());
    jump.addEventListener("click", () => (this.room?.behind ? this.onLatest() : this.toBottom()));
    // A smaller or larger box (keyboard, rotation) keeps the bottom in view.
    new ResizeObserver(() => this.room?.view.atBottom && this.toBottom()).observe(scroller);
  }

  onScroll() {
    if (!this.room) return;
    const { scrollHeight, scrollTop, clientHeight } = this.scroller;
    const view = this.room.view;
    view.atBottom = scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
    this.remember();
    if (view.atBottom) view.fresh = 0;
    this.showJump();
    if (scrollTop < NEAR_TOP_PX) this.onNearTop();
    if (view.atBottom && this.room.behind) this.onNearBottom();
  }

  toBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    if (this.room) {
      this.room.view.atBottom = true;
      this.room.view.fresh = 0;
    }
    this.showJump();
  }

  showJump() {
    const fresh = this.room?.view.fresh ?? 0;
    this.jump.hidden = fresh === 0 && !this.room?.behind;
    this.jump.textContent = fresh ? `Jump to latest (${fresh} new)` : "Jump to latest";
  }

  // Show `room` (or nothing) where it was last left: at the bottom, or as far
  // from it as before.
  show(room, pending) {
    if (!room) this.actions.closeAll();
    this.room = room;
    this.pendingList.replaceChildren();
    for (const entry of pending) this.pendingList.append(renderPending(entry, this.me, this.onRetry));
    this.rerender();
  }

  // Render the room's items again, the same ones staying in view (as after
  // older messages came in above).
  rerender() {
    const room = this.room;
    const view = room?.view;
    const focus = this.focused();
    this.list.replaceChildren();
    if (room) this.list.append(renderItems(room.items, null, this.me, room, this.actions));
    this.refocus(focus);
    this.markFound();
    this.beginning.textContent = room?.complete ? "The beginning of this room." : "";
    if (!view || view.atBottom) this.toBottom();
    else this.scroller.scrollTop = this.scroller.scrollHeight - view.fromBottom;
    this.showJump();
    // Too few to scroll: there is no top to reach, so ask now.
    if (room && !room.complete && this.scroller.scrollHeight <= this.scroller.clientHeight) this.onNearTop();
  }

  // New items at the end of the open room (already in room.items); `follow`:
  // the bottom stays in view if it was (else the view stays where it is).
  appended(items, follow = true) {
    const { items: all } = this.room;
    if (this.list.children.length + items.length > 2 * MAX_SHOWN) {
      this.rerender(); // room.items is trimmed to MAX_SHOWN
    } else {
      const previous = all[all.length - items.length - 1] ?? null;
      const divided = Boolean(this.list.querySelector(".new-divider"));
      this.list.append(renderItems(items, previous, this.me, this.room, this.actions, divided));
    }
    if (follow) this.follow(items.filter((i) => i.kind === "message").length);
    else {
      this.remember();
      this.showJump();
    }
  }

  // Scroll message `id` of the open room to the middle of the view and
  // highlight it a moment; false if it is not in the list.
  reveal(id) {
    const li = this.list.querySelector(`li.message[data-id="${id}"]`);
    if (!li) return false;
    const box = this.scroller.getBoundingClientRect();
    const at = li.getBoundingClientRect();
    this.scroller.scrollTop += at.top - box.top - (box.height - at.height) / 2;
    this.found = { room: this.room, id, until: Date.now() + FOUND_MS };
    this.markFound();
    setTimeout(() => this.markFound(), FOUND_MS + 50);
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    this.onScroll();
    return true;
  }

  // The message jumped to is highlighted until its time is up.
  markFound() {
    const found = this.found && Date.now() < this.found.until ? this.found : null;
    if (!found) this.found = null;
    for (const li of this.list.querySelectorAll("li.message.found")) li.classList.remove("found");
    if (found?.room === this.room) this.list.querySelector(`li.message[data-id="${found.id}"]`)?.classList.add("found");
  }

  // Message `id` of the open room was edited or deleted (in room.items).
  changed(id, deleted) {
    if (deleted) this.actions.forget(this.room, id);
    else if (this.actions.isEditing(this.room, id)) return; // the editor stays
    const focus = this.focused();
    const li = this.redraw(this.room, id);
    // Focus on a message that is now a tombstone moves to the tombstone.
    if (focus?.id === id && !this.refocus(focus) && li) {
      li.tabIndex = -1;
      li.focus();
    }
  }

  // Render message `id` again if `room` is open; its new list item, or null.
  redraw(room, id) {
    if (!room || room !== this.room) return null;
    const old = this.list.querySelector(`li.message[data-id="${id}"]`);
    const item = room.items.find((i) => i.kind === "message" && i.message.id === id);
    if (!old || !item) return null;
    const li = renderMessage(item.message, old.classList.contains("grouped"), this.me, room, this.actions);
    li.classList.toggle("found", old.classList.contains("found"));
    old.replaceWith(li);
    if (room.view.atBottom) this.toBottom();
    else this.remember();
    return li;
  }

  // Make `change` (a picture fitted to its size, above or in view) keeping
  // the view in place: at the bottom if it was, else the first item in view
  // where it was.
  keepPlace(change) {
    const view = this.room?.view;
    const top = this.scroller.getBoundingClientRect().top;
    const inView = (li) => li.getBoundingClientRect().bottom > top;
    const anchor = view && !view.atBottom ? [...this.list.children].find(inView) : null;
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    change();
    if (!view) return;
    if (view.atBottom) this.toBottom();
    else {
      if (anchor?.isConnected) this.scroller.scrollTop += anchor.getBoundingClientRect().top - before;
      this.remember();
    }
  }

  // Which control of which message has focus, if one has.
  focused() {
    const control = document.activeElement;
    const li = control?.closest?.("li.message");
    if (!li || !this.list.contains(li) || !control.dataset.focus) return null;
    return { id: Number(li.dataset.id), name: control.dataset.focus };
  }

  refocus(focus) {
    if (!focus) return false;
    return focusIn(this.list.querySelector(`li.message[data-id="${focus.id}"]`), focus.name);
  }

  // Keep the bottom in view if it was; otherwise count what came.
  follow(fresh) {
    const view = this.room.view;
    if (view.atBottom) this.toBottom();
    else {
      view.fresh += fresh;
      this.remember();
      this.showJump();
    }
  }

  // Where the view is, as distance from the end: what stays when older
  // messages come in above or the room is shown again.
  remember() {
    if (this.room) this.room.view.fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
  }

  showPending(entry) {
    const li = renderPending(entry, this.me, this.onRetry);
    const old = this.pendingList.querySelector(`[data-cid="${entry.cid}"]`);
    if (old) old.replaceWith(li);
    else this.pendingList.append(li);
    this.follow(0);
  }

  removePending(cid) {
    this.pendingList.querySelector(`[data-cid="${cid}"]`)?.remove();
    if (this.room && !this.room.view.atBottom) this.remember();
  }
}
