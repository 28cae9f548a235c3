// `@` in the message field (1.2, issue 27): typing `@` and the start of a
// name lists the people it may be: the open room's members and those who
// wrote there first, then the user directory (`users`, asked as the name is
// typed); picked with the arrow keys and Enter or Tab (or a click), which
// puts `@name ` in the field (Enter after a name typed out in full sends
// instead); Escape closes it. The pattern and the keys
// are those of the command list (commands.js).

import { botBadge, element, listKey } from "./dom.js";

// The field up to the caret ends in "@" and part of a name, the "@" not
// inside a word (so "a@b" is not a mention).
const TYPING_NAME = /(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{0,32})$/;
const SHOWN = 8; // names listed at most
const DIRECTORY_LIMIT = 8;
const ASK_AFTER_MS = 150; // of typing, before the directory is asked

function option(person, id, active, onPick) {
  const item = element("li", "command-option mention-option");
  item.id = id;
  item.setAttribute("role", "option");
  item.setAttribute("aria-selected", String(active));
  item.append(element("span", "command-name", `@${person.user}`));
  if (person.bot) item.append(botBadge());
  if (person.member) item.append(element("span", "command-bot", "in this room"));
  item.addEventListener("mousedown", (event) => event.preventDefault()); // the field keeps focus
  item.addEventListener("click", () => onPick(person));
  return item;
}

export class MentionMenu {
  // `input` the message field, `list` the (listbox) list; `people()` the
  // open room's people, most likely first ([{user, bot}]); `listUsers(prefix)`
  // asks the directory (the ref, or null: onUsers() follows); `me()` the
  // user; `changed()` after a pick changed the field.
  constructor({ input, list, people, listUsers, me, changed }) {
    Object.assign(this, { input, list, people, listUsers, me, changed });
    this.open = false;
    this.shown = []; // [{user, bot, member}]
    this.active = 0;
    this.dismissed = null; // the field's text when Escape closed the list
    this.found = { prefix: null, users: [] }; // the directory's last answer
    this.ref = null; // of the `users` awaited
    this.asked = ""; // the prefix it asked for
    this.asking = null; // the timer before asking
    this.typed = null; // the part of a name typed, at the last update
    const controls = input.getAttribute("aria-controls");
    input.setAttribute("aria-controls", controls ? `${controls} ${list.id}` : list.id);
    input.addEventListener("focus", () => this.update());
    input.addEventListener("blur", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("keyup", (event) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) this.update();
    });
  }

  // The part of a name typed after "@" before the caret, or null.
  typing() {
    const { value, selectionStart, selectionEnd } = this.input;
    if (selectionStart !== selectionEnd) return null;
    return TYPING_NAME.exec(value.slice(0, selectionStart))?.[1] ?? null;
  }

  // After every change to the field (or move of the caret).
  update() {
    const text = this.input.value;
    if (text !== this.dismissed) this.dismissed = null;
    const typed = document.activeElement === this.input && this.dismissed === null ? this.typing() : null;
    if (typed !== null && typed !== this.typed) this.askSoon(typed);
    this.typed = typed;
    const before = this.shown[this.active]?.user;
    this.shown = typed === null ? [] : this.matching(typed);
    const again = this.shown.findIndex((p) => p.user === before);
    this.active = again >= 0 ? again : 0;
    this.open = this.shown.length > 0;
    this.render();
  }

  // The room's people starting with `typed`, then the directory's.
  matching(typed) {
    const start = typed.toLowerCase();
    const me = this.me()?.toLowerCase();
    const fits = (user) => typeof user === "string" && user.toLowerCase().startsWith(start) && user.toLowerCase() !== me;
    const shown = [];
    const seen = new Set();
    const add = (person, member) => {
      if (!fits(person.user) || seen.has(person.user.toLowerCase())) return;
      seen.add(person.user.toLowerCase());
      shown.push({ user: person.user, bot: Boolean(person.bot), member });
    };
    for (const person of this.people()) add(person, true);
    const found = this.found;
    if (found.prefix !== null && start.startsWith(found.prefix.toLowerCase())) {
      for (const person of found.users) add(person, false);
    }
    return shown.slice(0, SHOWN);
  }

  askSoon(typed) {
    clearTimeout(this.asking);
    this.asking = setTimeout(() => {
      this.ref = this.listUsers(typed, DIRECTORY_LIMIT);
      this.asked = typed;
      this.asking = null;
    }, ASK_AFTER_MS);
  }

  // A `users` answer (ours if it carries our ref).
  onUsers(frame) {
    if (this.ref === null || frame.ref !== this.ref) return;
    this.ref = null;
    const users = Array.isArray(frame.users) ? frame.users.filter((u) => typeof u?.user === "string") : [];
    this.found = { prefix: this.asked, users };
    this.update();
  }

  onError(frame) {
    if (this.ref !== null && frame.ref === this.ref) this.ref = null;
  }

  render() {
    this.list.replaceChildren();
    this.list.hidden = !this.open;
    if (!this.open) {
      if (this.input.getAttribute("aria-activedescendant")?.startsWith("mention-option-")) {
        this.input.removeAttribute("aria-activedescendant");
      }
      return;
    }
    this.shown.forEach((person, index) => {
      const id = `mention-option-${index}`;
      const active = index === this.active;
      this.list.append(option(person, id, active, (picked) => this.pick(picked)));
      if (active) this.input.setAttribute("aria-activedescendant", id);
    });
    this.list.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: "nearest" });
  }

  // "@" and the part typed become "@name ", the caret after it.
  pick(person) {
    const { value, selectionStart } = this.input;
    const typed = this.typing() ?? "";
    const start = selectionStart - typed.length - 1;
    const rest = value.slice(selectionStart).replace(/^ /, "");
    const mention = `@${person.user} `;
    this.input.value = value.slice(0, start) + mention + rest;
    const caret = start + mention.length;
    this.input.focus();
    this.input.setSelectionRange(caret, caret);
    this.changed();
  }

  close() {
    this.dismissed = this.input.value;
    this.update();
  }

  // A key pressed in the field: true if the list took it (see listKey).
  key(event) {
    return listKey(this, event, (person) => this.typed?.toLowerCase() === person.user.toLowerCase());
  }
}
