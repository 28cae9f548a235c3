// A room's webhooks (protocol 1.2), in its settings for its owner and
// moderators: the list (`hooks`), a new incoming one (a name) or outgoing
// one (a name and a target URL), whose URL (and signing secret) the server
// shows this once, with Copy buttons, and Delete (`unhook`, asked first).
// A server without webhooks answers `hooks` with bad_request: the section
// goes for the session, and nothing else changes.

import { $, button, element } from "./dom.js";
import { describeError, roomKey } from "./protocol.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const COPIED_MS = 2000;
const NOT_CONNECTED = "Not connected; try again once the page is connected.";

// Put `text` on the clipboard (from `field`, selected, where the page may
// not use the clipboard API); the button says it worked.
async function copy(text, field, control) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    field.select();
    document.execCommand("copy");
  }
  control.textContent = "Copied";
  setTimeout(() => (control.textContent = "Copy"), COPIED_MS);
}

// A read-only field holding `value`, with its label and a Copy button
// ("Copy the `what`").
function copyable(label, value, what) {
  const row = element("div", "hook-secret");
  const field = element("input");
  field.readOnly = true;
  field.value = value;
  field.setAttribute("aria-label", label);
  field.addEventListener("focus", () => field.select());
  const copyButton = button("tool", "Copy", () => copy(value, field, copyButton));
  copyButton.setAttribute("aria-label", `Copy the ${what}`);
  row.append(element("span", "hook-label", label), field, copyButton);
  return row;
}

export class HookPanel {
  // `client()` is the page's ChatClient (or null).
  constructor({ client }) {
    this.client = client;
    this.current = null; // the name of the open room, if the user runs it
    this.room = null; // the name of the room the section is open for
    this.hooks = null; // its hooks as last listed (null: asked for)
    this.made = null; // the `hook` just made: its URL, shown once
    this.confirming = null; // the id of the hook whose Delete is being asked
    this.unsupported = false; // the server has no webhooks
    $("hooks-toggle").addEventListener("click", () => this.toggle());
    $("hook-form").addEventListener("submit", (event) => this.create(event));
    for (const radio of document.querySelectorAll('input[name="hook-kind"]')) {
      radio.addEventListener("change", () => this.showTarget());
    }
    $("hooks").addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.confirming !== null) {
        event.stopPropagation();
        this.confirming = null;
        this.render();
      }
    });
  }

  // The open room (or null), and whether the user runs it: the section is
  // theirs only; it closes when another room opens.
  show(room, runs) {
    const allowed = Boolean(room) && runs && !this.unsupported;
    this.current = allowed ? room.name : null;
    $("hooks-toggle").hidden = !allowed;
    if (!allowed || (this.room !== null && roomKey(this.room) !== roomKey(room.name))) this.close();
  }

  toggle() {
    if (this.room !== null) {
      this.close();
      $("hooks-toggle").focus();
      return;
    }
    if (this.current === null) return;
    this.room = this.current;
    this.hooks = null;
    this.made = null;
    this.confirming = null;
    $("hooks").hidden = false;
    $("hooks-toggle").setAttribute("aria-expanded", "true");
    this.note("");
    this.list();
    this.render();
    $("hook-name").focus();
  }

  close() {
    this.room = null;
    this.hooks = this.made = this.confirming = null;
    $("hooks").hidden = true;
    $("hooks-toggle").setAttribute("aria-expanded", "false");
    $("hook-list").replaceChildren();
    $("hook-made").replaceChildren();
    $("hook-made").hidden = true;
    $("hook-form").reset();
    this.showTarget();
    this.note("");
  }

  // A new connection: the list asked for on the old one is asked again.
  reconnected() {
    if (this.room !== null && this.hooks === null) this.list();
  }

  list() {
    if (this.client()?.listHooks(this.room) == null) this.note(NOT_CONNECTED, true);
  }

  isFor(name) {
    return this.room !== null && typeof name === "string" && roomKey(name) === roomKey(this.room);
  }

  note(text, error = false) {
    $("hook-note").textContent = text;
    $("hook-note").classList.toggle("error", error);
  }

  showTarget() {
    const outgoing = document.querySelector('input[name="hook-kind"]:checked')?.value === "outgoing";
    $("hook-target-row").hidden = !outgoing;
  }

  create(event) {
    event.preventDefault();
    if (this.room === null) return;
    const name = $("hook-name").value.trim();
    const outgoing = !$("hook-target-row").hidden;
    const target = outgoing ? $("hook-target").value.trim() : null;
    if (!USER_NAME.test(name)) {
      this.note("A webhook's name is 1 to 32 letters, digits, dots, dashes or underscores.", true);
      $("hook-name").focus();
    } else if (outgoing && !/^https?:\/\/\S+$/i.test(target)) {
      this.note("The target is an http:// or https:// URL.", true);
      $("hook-target").focus();
    } else if (this.client()?.addHook(this.room, name, target) == null) {
      this.note(NOT_CONNECTED, true);
    } else {
      this.note(`Creating ${name}…`);
    }
  }

  // -- the server's answers -----------------------------------------------------

  onHooks(frame) {
    if (!this.isFor(frame.room) || !Array.isArray(frame.hooks)) return;
    this.hooks = frame.hooks;
    if (this.confirming !== null && !this.hooks.some((h) => h.id === this.confirming)) this.confirming = null;
    this.render();
  }

  onHook(frame) {
    if (!this.isFor(frame.room)) return;
    this.made = frame;
    $("hook-form").reset();
    this.showTarget();
    this.note("");
    this.list();
    this.renderMade();
    $("hook-made").querySelector("input")?.focus();
  }

  onDone(request) {
    if (request?.type !== "unhook" || !this.isFor(request.room)) return;
    const gone = this.hooks?.find((h) => h.id === request.id);
    this.note(gone ? `Deleted the webhook ${gone.name}.` : "Deleted the webhook.");
    this.list();
  }

  // An error for a request of ours about webhooks (`request.type` hook,
  // hooks or unhook).
  onError(frame) {
    const { request } = frame;
    if (request.type === "hooks" && frame.code === "bad_request") {
      this.unsupported = true; // a server before webhooks: no section
      this.close();
      $("hooks-toggle").hidden = true;
      return;
    }
    if (!this.isFor(request.room)) return;
    const text = describeError(frame.code, frame.message);
    if (request.type === "hooks") this.note(`Could not list the webhooks: ${text}`, true);
    else if (request.type === "hook") this.note(`Could not create the webhook ${request.name}: ${text}`, true);
    else {
      this.note(frame.code === "not_found" ? "That webhook was gone already." : `Could not delete it: ${text}`, true);
      this.list();
    }
  }

  // -- rendering ----------------------------------------------------------------

  render() {
    const list = $("hook-list");
    list.replaceChildren();
    if (this.hooks === null) {
      list.append(element("li", "muted", "Loading webhooks…"));
      return;
    }
    if (!this.hooks.length) list.append(element("li", "muted", "No webhooks in this room yet."));
    for (const hook of this.hooks) list.append(this.item(hook));
  }

  item(hook) {
    const item = element("li", "hook");
    item.dataset.id = hook.id;
    item.append(element("span", "hook-name", hook.name));
    const outgoing = hook.kind === "outgoing" || typeof hook.target === "string";
    let kind = outgoing ? `outgoing to ${hook.target ?? "?"}` : "incoming";
    if (typeof hook.by === "string") kind += `, made by ${hook.by}`;
    item.append(element("span", "hook-what muted", kind));
    if (hook.disabled) item.append(element("span", "hook-disabled", "disabled (its target answered 410 Gone)"));
    if (this.confirming === hook.id) {
      const box = element("span", "confirm");
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", `Delete the webhook ${hook.name}?`);
      const yes = button("danger", "Delete", () => this.remove(hook));
      yes.setAttribute("aria-label", `Delete the webhook ${hook.name} for good`);
      const no = button("secondary", "Cancel", () => {
        this.confirming = null;
        this.render();
        this.focusIn(hook.id, "delete");
      });
      no.dataset.focus = "keep";
      box.append(element("span", "", "Its URL stops working."), yes, no);
      item.append(box);
    } else {
      const ask = button("tool", "Delete", () => {
        this.confirming = hook.id;
        this.render();
        this.focusIn(hook.id, "keep");
      });
      ask.dataset.focus = "delete";
      ask.setAttribute("aria-label", `Delete the webhook ${hook.name}`);
      item.append(ask);
    }
    return item;
  }

  focusIn(id, name) {
    const item = [...$("hook-list").children].find((li) => li.dataset.id === id);
    item?.querySelector(`[data-focus="${name}"]`)?.focus();
  }

  remove(hook) {
    this.confirming = null;
    if (this.client()?.removeHook(this.room, hook.id) == null) this.note(NOT_CONNECTED, true);
    else this.note(`Deleting ${hook.name}…`);
    this.render();
  }

  // The hook just made: its URL (and an outgoing one's secret), this once.
  renderMade() {
    const box = $("hook-made");
    box.replaceChildren();
    box.hidden = !this.made;
    if (!this.made) return;
    const { name, url, secret, target } = this.made;
    const title = element("p", "hook-made-title");
    title.append(element("strong", "", `Webhook ${name} created.`));
    title.append(" Copy what follows now: it is shown only once.");
    box.append(title);
    if (typeof url === "string") {
      box.append(copyable("URL to POST to", new URL(url, window.location.origin).href, "URL"));
    }
    if (typeof secret === "string") box.append(copyable("Signing secret", secret, "signing secret"));
    const how = 'POST {"text": "…"} as JSON to the URL: it appears in the room as a message from ';
    box.append(element("p", "muted", `${how}${name}.`));
    if (target) {
      const sent = `Each new message of the room is POSTed to ${target}, signed with the secret`;
      box.append(element("p", "muted", `${sent} (Standard Webhooks).`));
    }
    const done = button("secondary", "Done", () => {
      this.made = null;
      this.renderMade();
      $("hook-name").focus();
    });
    box.append(done);
  }
}
