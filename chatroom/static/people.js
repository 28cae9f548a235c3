// The People directory (1.2, issue 27): a box opened by People in the
// header, searching the user directory (`users`) by the start of a name as
// it is typed, a page at a time (More asks for the next, `after` the last
// name listed); each person with a dot saying whether they are online and a
// bot's badge. Choosing someone opens the direct conversation with them,
// anyone on the server, sharing a room or not. Every name is a text node.

import { $, botBadge, closeBox, element, openBox, overlayBox } from "./dom.js";
import { describeError } from "./protocol.js";

const PAGE = 30;
const ASK_AFTER_MS = 200; // of typing, before asking
const NAME_START = /^[A-Za-z0-9_.-]{0,32}$/;
const NOT_CONNECTED = "Not connected; try again once the page is connected.";

export class PeopleDirectory {
  // `client()` the page's ChatClient (or null); `me()` the user;
  // `onOpen(user)` opens the direct conversation with `user`.
  constructor({ client, me, onOpen }) {
    Object.assign(this, { client, me, onOpen });
    this.ref = null; // of the `users` awaited
    this.prefix = ""; // of the list shown
    this.users = []; // [{user, bot, online}] listed so far
    this.more = false;
    this.timer = null;
    this.back = null; // what had focus before the box opened
    $("people-open").addEventListener("click", () => (this.isOpen() ? this.close(true) : this.open()));
    $("people-close").addEventListener("click", () => this.close(true));
    $("people-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask(false);
    });
    $("people-input").addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.ask(false), ASK_AFTER_MS);
    });
    $("people-more").addEventListener("click", () => this.ask(true));
    overlayBox($("people"), this); // (one box over the page at a time)
  }

  isOpen() {
    return !$("people").hidden;
  }

  open() {
    document.dispatchEvent(new CustomEvent("chatroom:panel", { detail: this }));
    openBox(this, "people");
    $("people-input").focus();
    $("people-input").select();
    this.ask(false); // who is online changes: asked afresh each time
  }

  // `back`: focus goes back where it was.
  close(back) {
    if (closeBox(this, "people", back)) clearTimeout(this.timer);
  }

  // Logged out: nothing of it stays.
  reset() {
    this.close(false);
    this.ref = null;
    this.users = [];
    this.more = false;
    $("people-input").value = "";
    this.render();
    this.say("");
  }

  say(text, error = false) {
    $("people-status").textContent = text;
    $("people-status").classList.toggle("error", error);
  }

  // The first page for what is typed, or (`next`) the page after those listed.
  ask(next) {
    clearTimeout(this.timer);
    const prefix = next ? this.prefix : $("people-input").value.trim().replace(/^@/, "");
    if (!NAME_START.test(prefix)) {
      this.say("Names are letters, digits, dots, dashes or underscores.", true);
      return;
    }
    const after = next ? this.users[this.users.length - 1]?.user ?? null : null;
    const ref = this.client()?.users(prefix, after, PAGE) ?? null;
    if (ref === null) {
      this.say(NOT_CONNECTED, true);
      return;
    }
    this.ref = ref;
    this.asked = { prefix, next };
  }

  onUsers(frame) {
    if (this.ref === null || frame.ref !== this.ref) return;
    this.ref = null;
    const { prefix, next } = this.asked;
    const users = Array.isArray(frame.users) ? frame.users.filter((u) => typeof u?.user === "string") : [];
    this.prefix = prefix;
    this.users = next ? this.users.concat(users) : users;
    this.more = Boolean(frame.more) && users.length > 0;
    this.render();
    if (!this.users.length) this.say(prefix ? `Nobody's name starts with “${prefix}”.` : "Nobody here yet.");
    else this.say("");
  }

  onError(frame) {
    if (this.ref === null || frame.ref !== this.ref) return;
    this.ref = null;
    this.say(`Could not list people. ${describeError(frame.code, frame.message)}`, true);
  }

  render() {
    const list = $("people-list");
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.user : null;
    list.replaceChildren();
    const me = this.me()?.toLowerCase();
    for (const person of this.users) list.append(this.item(person, person.user.toLowerCase() === me));
    $("people-more").hidden = !this.more;
    if (focused) list.querySelector(`[data-user="${CSS.escape(focused)}"]`)?.focus();
  }

  item({ user, bot, online }, self) {
    const item = element("li", "person");
    const dot = element("span", online ? "online-dot online" : "online-dot");
    dot.title = online ? "Online now" : "Not online";
    const state = element("span", "visually-hidden", online ? "(online)" : "(offline)");
    const name = element("span", "person-name", user);
    const parts = [dot, name, state];
    if (bot) parts.push(botBadge());
    if (self) {
      item.append(...parts, element("span", "muted", "(you)"));
      return item;
    }
    const choose = element("button", "person-open");
    choose.type = "button";
    choose.dataset.user = user;
    choose.title = `Direct message ${user}`;
    choose.append(...parts);
    choose.addEventListener("click", () => {
      this.close(false);
      this.onOpen(user);
    });
    item.append(choose);
    return item;
  }
}
