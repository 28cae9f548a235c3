// The message field under the open room: Enter sends, Shift+Enter breaks
// the line, the characters left show near the limit; and bots' commands
// (1.2, commands.js): text starting with `/NAME`, NAME a command the
// server listed, invokes it instead of being sent; an unknown `/word` is
// refused here, with nothing sent; `//text` sends "/text". With files
// attached (1.2, uploads.js) a message may go without text. `@` and the
// start of a name list people to mention (1.2, mention-menu.js).

import { CommandMenu, parseSlash } from "./commands.js";
import { MentionMenu } from "./mention-menu.js";
import { plural } from "./dom.js";
import { MAX_TEXT, describeError } from "./protocol.js";

const COUNTER_FROM = 500; // show the characters left once fewer than this remain

export class Composer {
  // `send(text)` sends a message into the open room and `invoke(name,
  // args)` a command there: each true when it went (the field empties);
  // `listCommands()` asks the server for its commands (true if asked);
  // `error(text)` tells of a problem; `typing()` follows each change;
  // `attached()` says whether files wait to go with the next message;
  // `mentions` (if given): {list, people, listUsers, me} for the `@` list.
  constructor({ form, input, counter, menu, hint, send, invoke, listCommands, error, typing, attached, mentions }) {
    Object.assign(this, { form, input, counter, send, invoke, error, typing, attached });
    this.waiting = null; // text sent while the commands were being asked for
    this.menu = new CommandMenu({ input, list: menu, hint, listCommands, changed: () => this.changed() });
    this.mentions = mentions ? new MentionMenu({ input, ...mentions, changed: () => this.changed() }) : null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (event) => {
      if (this.menu.key(event) || this.mentions?.key(event)) event.preventDefault();
      else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener("input", () => this.changed(true));
  }

  changed(typed = false) {
    this.updateCounter();
    this.menu.update();
    this.mentions?.update();
    if (typed) this.typing();
  }

  // The server's commands came (`commands`, or [] when it has none): a
  // send that waited for them goes now, if the field still holds it.
  setCommands(commands) {
    this.menu.setCommands(commands);
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting !== null && waiting === this.input.value) this.submit(true);
  }

  // A new connection: a `commands` asked on the old one gets no answer.
  reconnected() {
    this.menu.loading = false;
    this.waiting = null;
  }

  // Send what the field holds; `listed`: the commands were just asked for.
  submit(listed = false) {
    const text = this.input.value;
    if (!text.trim() && !this.attached()) return;
    if ([...text].length > MAX_TEXT) {
      this.error(describeError("too_large"));
      return;
    }
    const slash = parseSlash(text, this.menu.commands);
    this.waiting = null;
    if (slash.unknown !== undefined) {
      // Not among the commands known: they may be older than its bot, so ask.
      if (!listed && this.menu.refresh(true)) {
        this.waiting = text;
        return;
      }
      this.menu.close();
      this.error(`No command /${slash.unknown}. To send text that starts with /, begin it with //.`);
      return;
    }
    const went = slash.command !== undefined ? this.invoke(slash.command, slash.args) : this.send(slash.text);
    if (!went) return;
    this.input.value = "";
    this.changed();
  }

  // A command the server refused: what was typed comes back, if the field
  // is empty.
  restore(text) {
    if (this.input.value) return;
    this.input.value = text;
    this.changed();
  }

  updateCounter() {
    const left = MAX_TEXT - [...this.input.value].length;
    const counter = this.counter;
    if (left < 0) counter.textContent = `${plural(-left, "character")} too many`;
    else counter.textContent = left < COUNTER_FROM ? `${plural(left, "character")} left` : "";
    counter.classList.toggle("warn", left < 100);
  }
}
