// Reactions (1.2): under a message, a chip for each emoji with how many
// reacted (who, on hover), one's own marked; clicking a chip puts one's own
// reaction on or takes it off (`react`). React on a message (or + after its
// chips) opens a small picker: the common reactions, and a search over the
// bundled emoji list (emoji.js). The server answers every member with the
// message's whole set (`reactions`), which the page keeps in the message.

import { button, element } from "./dom.js";
import { COMMON, emojiName, searchEmoji } from "./emoji.js";

const MARGIN_PX = 8; // the picker keeps this far from the window's edges

const REFUSED = {
  bad_request: "A message can have at most 20 different reactions.",
  forbidden: "This room takes no reactions (it may be archived).",
};

// A refused `react` in words (`text`: the error as the page says others).
export const reactionRefused = (code, text) => `Could not react. ${REFUSED[code] || text}`;

// "alice", "alice and bob", "alice, bob and carol".
function names(users) {
  if (users.length < 2) return users.join("");
  return `${users.slice(0, -1).join(", ")} and ${users[users.length - 1]}`;
}

// A focus name for an emoji's chip that any CSS selector takes (actions.js).
const focusName = (emoji) => `reaction-${[...emoji].map((c) => c.codePointAt(0).toString(16)).join("-")}`;

// A message's reactions as [emoji, users] with someone in them.
function entries(message) {
  const reactions = message.reactions;
  if (!reactions || typeof reactions !== "object") return [];
  return Object.entries(reactions).filter(([, users]) => Array.isArray(users) && users.length);
}

export class Reactions {
  // `client()` the ChatClient; `me()` the user's name; `error(text)` tells
  // of a problem; `messageOf(room, id)` a loaded message as it is now.
  constructor({ client, me, error, messageOf }) {
    Object.assign(this, { client, me, error, messageOf });
    this.picker = null; // built when first opened
    this.open = null; // {room, id, opener}
  }

  // The React button among a message's tools.
  button(room, message) {
    const react = button("tool", "React", (event) => this.openPicker(room, message.id, event.currentTarget));
    react.setAttribute("aria-label", "Add a reaction");
    react.setAttribute("aria-haspopup", "dialog");
    react.dataset.focus = "react";
    return react;
  }

  // Under a message: its chips, or null when it has none.
  chips(room, message) {
    const list = entries(message);
    if (!list.length) return null;
    const me = this.me();
    const row = element("div", "reactions");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Reactions");
    for (const [emoji, users] of list) {
      const mine = users.includes(me);
      const chip = button("reaction", "", () => this.toggle(room, message.id, emoji));
      chip.classList.toggle("mine", mine);
      chip.setAttribute("aria-pressed", String(mine));
      chip.append(element("span", "reaction-emoji", emoji), element("span", "reaction-count", String(users.length)));
      const what = emojiName(emoji) ?? emoji;
      chip.title = `${names(users)} reacted with ${what}`;
      chip.setAttribute("aria-label", `${what}: ${users.length}, ${names(users)}${mine ? " (you)" : ""}`);
      chip.dataset.emoji = emoji;
      chip.dataset.focus = focusName(emoji);
      row.append(chip);
    }
    const add = button("reaction reaction-add", "+", (event) => this.openPicker(room, message.id, event.currentTarget));
    add.setAttribute("aria-label", "Add a reaction");
    add.setAttribute("aria-haspopup", "dialog");
    add.dataset.focus = "reaction-add";
    row.append(add);
    return row;
  }

  // One's own `emoji` on message `id`: on if it is not, else off.
  toggle(room, id, emoji) {
    const message = this.messageOf(room, id);
    if (!message || message.deleted) return;
    const mine = entries(message).some(([e, users]) => e === emoji && users.includes(this.me()));
    if (this.client()?.react(room.name, id, emoji, !mine) == null) {
      this.error("Not connected; try again once the page is connected.");
    }
  }

  openPicker(room, id, opener) {
    if (this.open?.room === room && this.open.id === id && this.picker && !this.picker.hidden) {
      this.close();
      return;
    }
    this.build();
    this.open = { room, id, opener };
    this.search.value = "";
    this.showResults();
    this.picker.hidden = false;
    this.place(opener);
    this.search.focus();
  }

  // Close the picker; `refocus`: focus goes back where it came from.
  close(refocus = false) {
    if (!this.picker || this.picker.hidden) return;
    const opener = this.opener();
    this.picker.hidden = true;
    this.open = null;
    if (refocus && opener) opener.focus();
    else if (refocus) document.getElementById("message-input")?.focus();
  }

  // The open room is now `room` (or none): a picker for another closes.
  show(room) {
    if (this.open && this.open.room !== room) this.close();
  }

  pick(emoji) {
    const open = this.open;
    this.close(true);
    if (open) this.toggle(open.room, open.id, emoji);
  }

  build() {
    if (this.picker) return;
    const picker = element("div", "emoji-picker");
    picker.setAttribute("role", "dialog");
    picker.setAttribute("aria-label", "Pick a reaction");
    picker.hidden = true;
    const common = element("div", "emoji-common");
    common.setAttribute("role", "group");
    common.setAttribute("aria-label", "Common reactions");
    for (const entry of COMMON) common.append(this.option(entry));
    const search = element("input", "emoji-search");
    search.type = "search";
    search.placeholder = "Search emoji";
    search.autocomplete = "off";
    search.spellcheck = false;
    search.setAttribute("aria-label", "Search emoji");
    search.addEventListener("input", () => this.showResults());
    search.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const first = this.results.querySelector(".emoji-option");
      if (first) this.pick(first.dataset.emoji);
    });
    const results = element("div", "emoji-results");
    results.setAttribute("role", "group");
    results.setAttribute("aria-label", "Emoji found");
    picker.append(common, search, results);
    picker.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();
      this.close(true);
    });
    document.addEventListener("pointerdown", (event) => {
      const opener = this.open?.opener;
      if (!picker.hidden && !picker.contains(event.target) && !opener?.contains(event.target)) this.close();
    });
    window.addEventListener("resize", () => this.close());
    // The list scrolled (or a message came): the picker follows its button.
    document.addEventListener(
      "scroll",
      (event) => {
        if (picker.hidden || picker.contains(event.target)) return;
        const opener = this.opener();
        if (opener) this.place(opener);
        else this.close();
      },
      true,
    );
    document.body.append(picker);
    Object.assign(this, { picker, search, results });
  }

  option([emoji, name]) {
    const option = button("emoji-option", emoji, () => this.pick(emoji));
    option.title = name;
    option.setAttribute("aria-label", name);
    option.dataset.emoji = emoji;
    return option;
  }

  showResults() {
    const query = this.search.value.trim();
    const found = searchEmoji(query);
    this.results.replaceChildren(...found.map((entry) => this.option(entry)));
    if (query && !found.length) this.results.append(element("p", "emoji-none", `No emoji named “${query}”.`));
  }

  // The button the picker was opened from, or the one in its place after
  // its message was drawn again; null if that message is not in view.
  opener() {
    const { id, opener } = this.open ?? {};
    if (!opener) return null;
    let found = opener;
    if (!opener.isConnected) {
      const li = document.querySelector(`li.message[data-id="${id}"]`);
      found = li?.querySelector(`[data-focus="${opener.dataset.focus}"]`) ?? li?.querySelector('[data-focus="react"]');
    }
    if (!found) return null;
    const scroller = found.closest(".scroller")?.getBoundingClientRect();
    const at = found.getBoundingClientRect();
    return !scroller || (at.bottom > scroller.top && at.top < scroller.bottom) ? found : null;
  }

  // Beside `opener`: under it if there is room, else above; inside the window.
  place(opener) {
    const picker = this.picker;
    const at = opener.getBoundingClientRect();
    const { width, height } = picker.getBoundingClientRect();
    const below = at.bottom + 4;
    const top = below + height + MARGIN_PX <= window.innerHeight ? below : Math.max(MARGIN_PX, at.top - 4 - height);
    const left = Math.min(Math.max(MARGIN_PX, at.left), window.innerWidth - width - MARGIN_PX);
    picker.style.top = `${top}px`;
    picker.style.left = `${Math.max(MARGIN_PX, left)}px`;
  }

  // Signed out.
  reset() {
    this.close();
  }
}
