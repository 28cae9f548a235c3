// Bots' commands in the message field (protocol 1.2): what text starting
// with `/` means (parseSlash), and the list of commands that opens when
// `/` starts the field (CommandMenu): asked of the server each time it
// opens, narrowed as the name is typed, picked with the arrow keys and
// Enter or Tab (or a click), closed with Escape; once the name is a
// command's, its usage shows under the field.

import { element, listKey } from "./dom.js";

const NAME_CHARS = /^[a-z0-9_-]{1,32}$/;
const TYPING_NAME = /^\/([A-Za-z0-9_-]*)$/; // the field holds "/" and part of a name
const FIRST_WORD = /^\/(\S+)(?:\s([\s\S]*))?$/;
const FRESH_MS = 2000; // a list this recent is trusted without asking again

// What `text` asks for, given the `commands` known (null: none asked for
// yet): {text} a message (`//x` is the message "/x"), {command, args} a
// command of those known, or {unknown} a `/word` that is none of them.
export function parseSlash(text, commands) {
  if (!text.startsWith("/") || text.startsWith("//")) {
    return { text: text.startsWith("//") ? text.slice(1) : text };
  }
  const match = FIRST_WORD.exec(text);
  if (!match) return { text }; // "/" alone, or "/ something": not a command
  const name = match[1].toLowerCase();
  if (NAME_CHARS.test(name) && commands?.some((c) => c.name === name)) {
    return { command: name, args: (match[2] ?? "").trim() };
  }
  return { unknown: match[1] };
}

// A command as the list shows it: "/name", its description, its bot.
function option(command, id, active, onPick) {
  const item = element("li", "command-option");
  item.id = id;
  item.setAttribute("role", "option");
  item.setAttribute("aria-selected", String(active));
  item.append(element("span", "command-name", `/${command.name}`));
  if (command.description) item.append(element("span", "command-description", command.description));
  const bot = element("span", "command-bot", command.bot);
  bot.title = `From the bot ${command.bot}`;
  item.append(bot);
  // Mouse down would take focus from the field; the click picks.
  item.addEventListener("mousedown", (event) => event.preventDefault());
  item.addEventListener("click", () => onPick(command));
  return item;
}

export class CommandMenu {
  // `input` the message field, `list` the (listbox) list, `hint` where the
  // usage shows; `listCommands()` asks the server for them (true if asked:
  // setCommands() follows); `changed()` after a pick changed the field.
  constructor({ input, list, hint, listCommands, changed }) {
    Object.assign(this, { input, list, hint, listCommands, changed });
    this.commands = null; // [{name, description, usage, bot}], as last listed
    this.listedAt = 0; // when they came
    this.loading = false; // a `commands` is on its way
    this.open = false; // the list shows
    this.wanted = false; // at the last update (when it became so, the list was asked for)
    this.shown = []; // the commands listed now
    this.active = 0; // of `shown`
    this.dismissed = null; // the field's text when Escape closed the list
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    // Open only while the field has focus (a click on a command keeps it).
    input.addEventListener("focus", () => this.update());
    input.addEventListener("blur", () => this.update());
  }

  // The server's answer (or [] where it has no commands).
  setCommands(commands) {
    this.loading = false;
    this.listedAt = Date.now();
    this.commands = Array.isArray(commands)
      ? commands.filter((c) => typeof c?.name === "string").sort((a, b) => (a.name < b.name ? -1 : 1))
      : [];
    this.update();
  }

  // Ask again, unless an answer is on its way: true, or false if not asked
  // (the page is offline, or, with `fresh`, the list is recent enough).
  refresh(fresh = false) {
    if (this.loading) return true;
    if (fresh && this.commands !== null && Date.now() - this.listedAt < FRESH_MS) return false;
    this.loading = Boolean(this.listCommands());
    return this.loading;
  }

  // After every change to the field: open, narrow or close the list, and
  // show the usage of the command named.
  update() {
    const text = this.input.value;
    const typing = TYPING_NAME.exec(text);
    if (text !== this.dismissed) this.dismissed = null;
    const wanted = Boolean(typing) && this.dismissed === null && document.activeElement === this.input;
    if (wanted && !this.wanted) this.refresh(); // fresh each time it opens
    this.wanted = wanted;
    const typed = typing?.[1].toLowerCase() ?? "";
    const before = this.shown[this.active]?.name;
    this.shown = wanted ? (this.commands ?? []).filter((c) => c.name.startsWith(typed)) : [];
    const again = this.shown.findIndex((c) => c.name === before);
    this.active = again >= 0 ? again : 0;
    // Nothing matches what is typed: no list (sending says so).
    this.open = wanted && (this.shown.length > 0 || typed === "" || this.commands === null);
    this.render();
    this.showUsage(text);
  }

  render() {
    this.list.replaceChildren();
    this.list.hidden = !this.open;
    this.input.removeAttribute("aria-activedescendant");
    if (!this.open) return;
    this.shown.forEach((command, index) => {
      const id = `command-option-${index}`;
      const active = index === this.active;
      this.list.append(option(command, id, active, (picked) => this.pick(picked)));
      if (active) this.input.setAttribute("aria-activedescendant", id);
    });
    if (!this.shown.length) {
      const words = this.commands === null ? "Loading commands…" : "No commands here: no bot offers any now.";
      this.list.append(element("li", "command-none", words));
    }
    this.list.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: "nearest" });
  }

  // The usage (and description) of the command the field names, if any.
  showUsage(text) {
    const match = FIRST_WORD.exec(text);
    const name = match?.[1].toLowerCase();
    const command = name && this.commands?.find((c) => c.name === name);
    this.hint.replaceChildren();
    this.hint.hidden = !command;
    if (!command) return;
    this.hint.append(element("code", "command-usage", command.usage || `/${command.name}`));
    if (command.description) this.hint.append(" ", element("span", "", command.description));
    this.hint.append(" ", element("span", "command-bot", `(${command.bot})`));
  }

  // The field holds "/name " of `command`, ready for its arguments.
  pick(command) {
    this.input.value = `/${command.name} `;
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
    this.changed();
  }

  close() {
    this.dismissed = this.input.value;
    this.update();
  }

  // A key pressed in the field: true if the list took it (see listKey).
  key(event) {
    return listKey(this, event, (command) => this.input.value.toLowerCase() === `/${command.name}`);
  }
}
